// Who is signed in: tokens (api.js, memory only), the user (GET /v1/users/me), and the key of the
// offline copy, derived from the password at login and kept only in memory (store.js). Logout and
// the idle timeout end the session on the server and wipe the offline copy.
//
// Offline sign-in: without a network, a user whose copy is on the device signs in with the password
// that opens it (its sealed check value); they work on the copy and the queue, and when the network
// returns they are asked to sign in again (`needsSignIn()`), which sends the queue.
import { api, ApiError, Offline, useTokens, whenSessionEnds } from './api.js';
import { deriveKey, randomSalt, seal, open } from './crypto.js';
import { serverReachable } from './network.js';
import * as store from './store.js';

export const IDLE_MINUTES = 15;
const IDLE_OVERRIDE = 'casetrail.idle_seconds'; // tests shorten the timeout; not survivor data
let user = null;
let signedInOffline = false;
let idleTimer = null;
let warningTimer = null;
let activityRecorded = 0;
let lastTouched = 0; // this tab's last key or pointer event (activityRecorded is the device's, throttled)
// Wrong passwords in a row at offline sign-in before the device's copy is wiped: offline, nothing else
// slows a guesser down (online, the server locks the account after as many).
export const OFFLINE_ATTEMPTS = 5;
let listeners = [];
const endListeners = [];
const idleListeners = [];

export function current() {
  return user;
}

export function onChange(listener) {
  listeners.push(listener);
}

// `listener()` after the session ended (logout, idle timeout, refused session): nothing of it may stay shown.
export function onEnd(listener) {
  endListeners.push(listener);
}

// `listener(warning)`: true a minute before the idle timeout, false when the user is back.
export function onIdle(listener) {
  idleListeners.push(listener);
}

function changed() {
  for (const listener of listeners) listener(user);
}

// Signed in from the device's copy alone (no tokens): commands wait in the queue.
export function offline() {
  return Boolean(user) && signedInOffline;
}

// Signed in offline, and the network is back: sign in again to send the queue.
export function needsSignIn() {
  return offline() && serverReachable();
}

async function unlockOfflineCopy(username, password) {
  let meta = await store.getMeta(username);
  if (meta) {
    const key = await deriveKey(password, meta.salt);
    try {
      await open(key, meta.check, `${username}/check`);
      store.unlock(username, key);
      return;
    } catch {
      await store.wipe(); // the password changed: the old copy cannot be read, start again
      meta = null;
    }
  }
  const salt = randomSalt();
  const key = await deriveKey(password, salt);
  meta = { salt, check: await seal(key, 'casetrail', `${username}/check`) };
  await store.putMeta(username, meta);
  store.unlock(username, key);
}

export async function login(username, password) {
  let pair;
  try {
    pair = (await api('POST', '/v1/auth/token', { body: { username, password }, auth: false })).body;
  } catch (error) {
    if (error instanceof Offline) return loginOffline(username, password);
    throw error;
  }
  useTokens(pair);
  user = (await api('GET', '/v1/users/me')).body;
  signedInOffline = false;
  try {
    await unlockOfflineCopy(username, password);
    await store.save('user', user);
  } catch {
    // no IndexedDB (a private window): the app works online only
  }
  watchIdle();
  changed();
  return user;
}

// Without a network: the password must open this user's copy (its check value); no copy, no sign-in.
async function loginOffline(username, password) {
  const meta = await store.getMeta(username).catch(() => undefined);
  if (!meta) throw new Offline();
  const key = await deriveKey(password, meta.salt);
  try {
    await open(key, meta.check, `${username}/check`);
  } catch {
    const failures = (await store.offlineFailures().catch(() => 0)) + 1;
    if (failures >= OFFLINE_ATTEMPTS) await store.wipe();
    else await store.setOfflineFailures(failures).catch(() => {});
    throw new ApiError(401, { code: 'unauthenticated' });
  }
  await store.setOfflineFailures(0).catch(() => {});
  store.unlock(username, key);
  const kept = await store.load('user');
  if (!kept) throw new Offline();
  user = kept;
  signedInOffline = true;
  watchIdle();
  changed();
  return user;
}

export async function logout() {
  try {
    await api('POST', '/v1/auth/logout');
  } catch {
    // offline or already ended: the tokens are dropped below all the same
  }
  await end();
}

async function end({ wipe = true } = {}) {
  useTokens(null);
  user = null;
  signedInOffline = false;
  clearTimeout(idleTimer);
  clearTimeout(warningTimer);
  warned(false);
  if (wipe) await store.wipe();
  else store.lock();
  changed();
  for (const listener of endListeners) listener();
}

// A session signed in offline has no tokens: a 401 then means "sign in again", not "wipe the queue".
whenSessionEnds(() => { if (user && !offline()) end(); });

// A tab closed without logging out leaves no timer running: when the app starts, a copy last used longer
// ago than the idle timeout is wiped before anything else.
export async function wipeIfIdle() {
  try {
    const last = await store.lastActivity();
    if (last !== null && Date.now() - last >= idleSeconds() * 1000) await store.wipe();
  } catch {
    await store.wipe(); // a copy whose age cannot be read is not kept
  }
}

// The device's last activity, at most every quarter of the timeout (and 30 s): wiping early errs safe.
// This tab was idle for the whole timeout. The device's copy is wiped, unless another tab of the device
// was used since (the device's last activity is newer than this tab's): then this tab only signs out.
async function idleOut() {
  if (!user) return;
  const device = await store.lastActivity().catch(() => null);
  const elsewhere = device !== null && device > lastTouched && Date.now() - device < idleSeconds() * 1000;
  try {
    await api('POST', '/v1/auth/logout');
  } catch {
    // offline or already ended
  }
  await end({ wipe: !elsewhere });
}

// A timer may fire late, or not at all, while the device sleeps or the tab is in the background: coming
// back, a tab idle for longer than the timeout ends at once, before anything is shown.
function checkIdleOnReturn() {
  if (document.visibilityState === 'visible' && user && Date.now() - lastTouched >= idleSeconds() * 1000) idleOut();
}

function recordActivity(now) {
  if (now - activityRecorded < Math.min(30, idleSeconds() / 4) * 1000) return;
  activityRecorded = now;
  store.recordActivity(now).catch(() => {});
}

export function idleSeconds() {
  let override = null;
  try { override = Number(localStorage.getItem(IDLE_OVERRIDE)); } catch { /* storage may be off */ }
  return override > 0 ? override : IDLE_MINUTES * 60;
}

function warned(warning) {
  for (const listener of idleListeners) listener(warning);
}

let watching = false;

// The idle timeout wipes the device; a minute before (half the time when it is shorter), a warning.
export function stillHere() {
  clearTimeout(idleTimer);
  clearTimeout(warningTimer);
  warned(false);
  if (!user) return;
  lastTouched = Date.now();
  recordActivity(lastTouched);
  const seconds = idleSeconds();
  warningTimer = setTimeout(() => { if (user) warned(true); }, (seconds - Math.min(60, seconds / 2)) * 1000);
  idleTimer = setTimeout(idleOut, seconds * 1000);
}

function watchIdle() {
  if (!watching) {
    for (const event of ['pointerdown', 'keydown']) document.addEventListener(event, stillHere, { passive: true });
    document.addEventListener('visibilitychange', checkIdleOnReturn);
    watching = true;
  }
  activityRecorded = 0;
  stillHere();
}
