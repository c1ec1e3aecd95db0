// Keeps the offline copy fresh while online, from the changes feed (GET /v1/changes): at sign-in, when
// the network returns and every minute. `reset` drops the copy of the cases (never the queue); an
// `updated` case is read again when the device keeps its file (a caseworker: every case they hold),
// `left_scope` removes it. The list is read again whenever anything changed. Then the queue is sent.
import { api, hasTokens } from './api.js';
import { flush } from './commands.js';
import { onReachability } from './network.js';
import * as session from './session.js';
import * as store from './store.js';
import { casesList } from './views/cases.js';

const EVERY_MINUTE = 60 * 1000;
const CURSOR = 'changes/cursor';
export const FULL_LIST = `list?${new URLSearchParams({ stage: '', risk_level: '' })}`;
let timer = null;
let running = null;

// Only caseworkers and supervisors hold cases (and may read the changes feed).
const SYNCED_ROLES = ['caseworker', 'supervisor'];

export function start() {
  clearInterval(timer);
  if (!SYNCED_ROLES.includes(session.current()?.role)) return Promise.resolve();
  timer = setInterval(() => { refresh(); }, EVERY_MINUTE);
  return refresh();
}

export function stop() {
  clearInterval(timer);
  timer = null;
}

onReachability((reachable) => { if (reachable && timer) refresh(); });

// Never throws: offline, or refused, the copy stays as it was.
export function refresh() {
  if (!store.unlocked() || !hasTokens()) return Promise.resolve();
  running ||= (async () => {
    try {
      await flush();
      await catchUp();
    } catch {
      // offline or refused: the copy stays as it was, the next minute tries again
    }
  })().finally(() => { running = null; });
  return running;
}

async function catchUp() {
  let since = await store.load(CURSOR);
  let changed = false;
  for (;;) {
    const page = (await api('GET', '/v1/changes', { params: { since, limit: 200 } })).body;
    if (page.reset) await dropCases();
    for (const item of page.items) await apply(item);
    changed ||= page.reset || page.items.length > 0;
    since = page.next_cursor;
    await store.save(CURSOR, since);
    if (page.items.length < 200) break;
  }
  if (changed) await store.save(FULL_LIST, await casesList({ stage: '', risk_level: '' }));
}

async function dropCases() {
  for (const name of await store.names('case/')) await store.remove(name);
  for (const name of await store.names('list?')) await store.remove(name);
}

async function apply({ case_id: caseId, change }) {
  const name = `case/${caseId}`;
  if (change === 'left_scope') {
    await store.remove(name);
    return;
  }
  const kept = await store.load(name);
  if (!kept && session.current()?.role !== 'caseworker') return;
  await store.save(name, (await api('GET', `/v1/cases/${caseId}`)).body);
}
