// Who is signed in: tokens (api.js, memory only), the user (GET /v1/users/me), and the key of the
// offline copy, derived from the password at login and kept only in memory (store.js). Logout and
// the idle timeout end the session on the server and wipe the offline copy.
import { api, useTokens, whenSessionEnds } from './api.js';
import { deriveKey, randomSalt, seal, open } from './crypto.js';
import * as store from './store.js';

export const IDLE_MINUTES = 15;
let user = null;
let idleTimer = null;
let listeners = [];

export function current() {
  return user;
}

export function onChange(listener) {
  listeners.push(listener);
}

function changed() {
  for (const listener of listeners) listener(user);
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
    }
  }
  const salt = randomSalt();
  const key = await deriveKey(password, salt);
  meta = { salt, check: await seal(key, 'casetrail', `${username}/check`) };
  await store.putMeta(username, meta);
  store.unlock(username, key);
}

export async function login(username, password) {
  const pair = (await api('POST', '/v1/auth/token', { body: { username, password }, auth: false })).body;
  useTokens(pair);
  user = (await api('GET', '/v1/users/me')).body;
  try {
    await unlockOfflineCopy(username, password);
  } catch {
    // no IndexedDB (a private window): the app works online only
  }
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

async function end() {
  useTokens(null);
  user = null;
  clearTimeout(idleTimer);
  await store.wipe();
  changed();
}

whenSessionEnds(() => { if (user) end(); });

function watchIdle() {
  const restart = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { if (user) logout(); }, IDLE_MINUTES * 60 * 1000);
  };
  for (const event of ['pointerdown', 'keydown']) document.addEventListener(event, restart, { passive: true });
  restart();
}
