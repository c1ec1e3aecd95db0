// The offline copy (IndexedDB): each record sealed with the session's key (crypto.js). Stores:
//   meta  - per user: the PBKDF2 salt and a sealed check value (to unlock offline), not secret; and the time
//           of the last activity (throttled), so that a copy left idle in a closed tab is wiped at the next start;
//   cases - the case files and the caseworker's list, sealed;
//   queue - commands not sent yet (made offline, refused, or in conflict), sealed, in the order made.
// wipe() deletes the whole database, queue included: at logout and after the idle timeout.
import { seal, open } from './crypto.js';

const NAME = 'casetrail';
const LAST_ACTIVITY = '.last-activity'; // a key no username can take (they start with a letter or digit)
const OFFLINE_FAILURES = '.offline-failures'; // wrong passwords in a row at offline sign-in
let database = null;
let sessionKey = null;
let owner = null;

function opened() {
  if (database) return Promise.resolve(database);
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => {
      for (const store of ['meta', 'cases', 'queue']) request.result.createObjectStore(store);
    };
    request.onsuccess = () => {
      database = request.result;
      // Another tab deletes the database (its logout or idle timeout): let go, or the deletion waits for us.
      database.onversionchange = () => { database?.close(); database = null; };
      resolve(database);
    };
    request.onerror = () => reject(request.error);
  });
}

function run(store, mode, action) {
  return opened().then((db) => new Promise((resolve, reject) => {
    const transaction = db.transaction(store, mode);
    const request = action(transaction.objectStore(store));
    transaction.oncomplete = () => resolve(request?.result);
    transaction.onerror = () => reject(transaction.error);
  }));
}

export async function getMeta(username) {
  const meta = await run('meta', 'readonly', (store) => store.get(username));
  return meta?.salt ? meta : undefined;
}

export function recordActivity(when) {
  return run('meta', 'readwrite', (store) => store.put(when, LAST_ACTIVITY));
}

// Whether the device holds a copy, found without creating one (where the browser can tell).
async function present() {
  if (!indexedDB.databases) return true;
  return (await indexedDB.databases()).some((db) => db.name === NAME);
}

// When the device's copy was last used: null when there is none, 0 when it never recorded a time.
export async function lastActivity() {
  if (!(await present())) return null;
  return (await run('meta', 'readonly', (store) => store.get(LAST_ACTIVITY))) ?? 0;
}

export async function offlineFailures() {
  return (await run('meta', 'readonly', (store) => store.get(OFFLINE_FAILURES))) ?? 0;
}

export function setOfflineFailures(count) {
  return run('meta', 'readwrite', (store) => store.put(count, OFFLINE_FAILURES));
}

// Forgets the key, keeps the copy (another tab of the device is still working in it).
export function lock() {
  sessionKey = null;
  owner = null;
}

export function putMeta(username, meta) {
  return run('meta', 'readwrite', (store) => store.put(meta, username));
}

export function unlock(username, key) {
  owner = username;
  sessionKey = key;
}

export function unlocked() {
  return sessionKey !== null;
}

export async function save(name, value) {
  if (!sessionKey) return;
  const record = `${owner}/${name}`;
  const sealed = await seal(sessionKey, value, record);
  await run('cases', 'readwrite', (store) => store.put(sealed, record));
}

export async function load(name) {
  if (!sessionKey) return undefined;
  const record = `${owner}/${name}`;
  const sealed = await run('cases', 'readonly', (store) => store.get(record));
  return sealed ? open(sessionKey, sealed, record) : undefined;
}

export function owned() {
  return owner;
}

export async function remove(name) {
  if (!sessionKey) return;
  await run('cases', 'readwrite', (store) => store.delete(`${owner}/${name}`));
}

// Every record of the owner's whose name starts with `prefix`, as [name, value], in key order.
async function entries(storeName, prefix) {
  const start = `${owner}/${prefix}`;
  const sealed = await run(storeName, 'readonly', (store) => collect(store, IDBKeyRange.bound(start, `${start}\uffff`)));
  return Promise.all(sealed.map(async ([record, value]) =>
    [record.slice(owner.length + 1), await open(sessionKey, value, record)]));
}

function collect(store, range) {
  const found = [];
  const request = store.openCursor(range);
  const done = { get result() { return found; } };
  request.onsuccess = () => {
    const cursor = request.result;
    if (!cursor) return;
    found.push([cursor.key, cursor.value]);
    cursor.continue();
  };
  return done;
}

export async function names(prefix) {
  if (!sessionKey) return [];
  return (await entries('cases', prefix)).map(([name]) => name);
}

// The queue: each command under `q/<time><counter>`, so the keys sort in the order the commands were made.
let made = 0;

export async function enqueue(command) {
  if (!sessionKey) throw new Error('locked');
  made += 1;
  const id = `${Date.now().toString(36).padStart(10, '0')}${made.toString(36).padStart(4, '0')}`;
  await putQueued({ ...command, id });
  return id;
}

export async function putQueued(command) {
  const record = `${owner}/q/${command.id}`;
  const sealed = await seal(sessionKey, command, record);
  await run('queue', 'readwrite', (store) => store.put(sealed, record));
}

export async function queued() {
  if (!sessionKey) return [];
  return (await entries('queue', 'q/')).map(([, command]) => command);
}

export async function queuedCommand(id) {
  if (!sessionKey) return undefined;
  const record = `${owner}/q/${id}`;
  const sealed = await run('queue', 'readonly', (store) => store.get(record));
  return sealed ? open(sessionKey, sealed, record) : undefined;
}

export async function removeQueued(id) {
  if (!sessionKey) return;
  await run('queue', 'readwrite', (store) => store.delete(`${owner}/q/${id}`));
}

export async function wipe() {
  sessionKey = null;
  owner = null;
  if (database) { database.close(); database = null; }
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}
