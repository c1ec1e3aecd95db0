// The offline copy (IndexedDB): each record sealed with the session's key (crypto.js). Stores:
//   meta  - per user: the PBKDF2 salt and a sealed check value (to unlock offline), not secret;
//   cases - the case files and the caseworker's list, sealed;
//   queue - commands made offline, sealed (the next step: see web/README.md).
// wipe() deletes the whole database: at logout and after the idle timeout.
import { seal, open } from './crypto.js';

const NAME = 'casetrail';
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
    request.onsuccess = () => { database = request.result; resolve(database); };
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

export function getMeta(username) {
  return run('meta', 'readonly', (store) => store.get(username));
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

export async function wipe() {
  sessionKey = null;
  owner = null;
  if (database) { database.close(); database = null; }
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}
