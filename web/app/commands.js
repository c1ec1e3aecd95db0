// Case commands: the one way a screen changes a case. Each command carries an Idempotency-Key (kept
// for the command's life, so a retry never applies it twice) and If-Match with the case version the
// caseworker saw, so a change made on an old version is refused (412), never silently applied.
//
// sendCommand({caseId, path, body, version, label, method, key}) resolves to one of:
//   {sent: true, result}      the server accepted it (result: api()'s {status, body, version});
//   {queued: true}            no network: kept (sealed) in the device's queue, sent when it returns;
//   {conflict: id}            412: the case changed meanwhile; #/conflicts/<id> shows both versions.
// Any other refusal is thrown as api.js's ApiError (the screen shows it; nothing was changed).
// `label` is the catalogue key naming the change (the queue and conflict screens show it); `method`
// is POST unless given (the plan is a PUT).
//
// The queue (store.js, sealed): a command waits there while the network is gone, and also while an
// earlier command of the same case waits, so a case's commands reach the server in the order made.
// pendingFor(caseId) lists what waits for a case (the case file shows it); onQueueChange(listener).
import { api, hasTokens, newKey, Offline } from './api.js';
import * as store from './store.js';

const listeners = [];

export function onQueueChange(listener) {
  listeners.push(listener);
}

function queueChanged() {
  for (const listener of listeners) listener();
}

async function seenAt(caseId) {
  return (await store.load(`case/${caseId}`).catch(() => undefined))?.updated_at || null;
}

// `key`: the form's Idempotency-Key, kept for the form's life so that a double submit applies once.
export async function sendCommand({ caseId, path, body = {}, version, label, method = 'POST', key = newKey() }) {
  const command = { caseId, method, path, body, version, label, key, when: new Date().toISOString() };
  if (store.unlocked() && (!hasTokens() || (await pendingFor(caseId)).length)) return keep(command, 'waiting');
  try {
    const result = await api(method, path, { body, ifMatch: version, idempotencyKey: command.key });
    flushSoon();
    return { sent: true, result };
  } catch (error) {
    if (error instanceof Offline && store.unlocked()) return keep(command, 'waiting');
    if (error.code === 'version_mismatch' && store.unlocked()) {
      return { conflict: (await keep(command, 'conflict')).id };
    }
    throw error;
  }
}

async function keep(command, status) {
  const id = await store.enqueue({ ...command, status, seenAt: await seenAt(command.caseId) });
  queueChanged();
  return status === 'waiting' ? { queued: true } : { id };
}

// What is not sent yet for a case (waiting, failed or in conflict), in the order made.
export async function pendingFor(caseId) {
  return (await store.queued().catch(() => [])).filter((command) => command.caseId === caseId);
}

export async function pending() {
  return store.queued().catch(() => []);
}

export async function discard(id) {
  await store.removeQueued(id);
  queueChanged();
}

let flushing = null;

function flushSoon() {
  setTimeout(() => { flush().catch(() => {}); }, 0);
}

// Sends the waiting commands in order. A case stops at its first command refused: a 412 becomes a
// conflict for the caseworker to reconcile, any other refusal is kept as failed (shown, never dropped).
export function flush() {
  if (!store.unlocked() || !hasTokens()) return Promise.resolve();
  flushing ||= sendWaiting().finally(() => { flushing = null; queueChanged(); });
  return flushing;
}

async function sendWaiting() {
  const stopped = new Set();
  for (const { id } of await store.queued()) {
    const command = await store.queuedCommand(id); // as it is now: an earlier one may have carried its version
    if (!command || stopped.has(command.caseId)) continue;
    if (command.status !== 'waiting') { stopped.add(command.caseId); continue; }
    const outcome = await sendQueued(command);
    if (outcome === 'offline') return;
    if (outcome !== 'sent') stopped.add(command.caseId);
  }
}

async function sendQueued(command) {
  let result;
  try {
    result = await api(command.method, command.path,
      { body: command.body, ifMatch: command.version, idempotencyKey: command.key });
  } catch (error) {
    if (error instanceof Offline || error.code === 'unavailable') return 'offline';
    const status = error.code === 'version_mismatch' ? 'conflict' : 'failed';
    await store.putQueued({ ...command, status, error: { code: error.code, errors: error.errors } });
    return status;
  }
  await store.removeQueued(command.id);
  await carryVersion(command, result.version);
  return 'sent';
}

// The next commands of the case were made on the version this one was sent on; it was accepted on
// that version, so nothing else changed the case in between: they follow on the version it produced.
// (An answer without a version, consent's, left the case's version as it was.)
async function carryVersion(sent, produced) {
  if (produced === null || produced === undefined) return;
  for (const command of await store.queued()) {
    if (command.caseId === sent.caseId && command.status === 'waiting' && command.version === sent.version) {
      await store.putQueued({ ...command, version: produced });
    }
  }
}

// A conflict sent again on the version the caseworker now sees: a new If-Match and a new key (it is a
// new decision). Resolves like sendCommand; the case's queue then goes on.
export async function resend(id, version) {
  const command = await store.queuedCommand(id);
  const result = await api(command.method, command.path,
    { body: command.body, ifMatch: version, idempotencyKey: newKey() });
  await store.removeQueued(id);
  flushSoon();
  return { sent: true, result };
}

export function queuedCommand(id) {
  return store.queuedCommand(id);
}
