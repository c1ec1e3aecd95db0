// Whether the server answers, learnt from requests: never from navigator.onLine, which says only that
// the device has some network (true on a Wi-Fi with no way to the server; in some environments always
// true). Every answer says "reachable", every request that never got one says "not".
const listeners = [];
let reachable = true;
let probing = null;

export function serverReachable() {
  return reachable;
}

// `listener(reachable)` whenever it changes.
export function onReachability(listener) {
  listeners.push(listener);
}

export function learnt(answered) {
  if (answered === reachable) return;
  reachable = answered;
  for (const listener of listeners) listener(reachable);
}

// Asks the gateway's health check (no token, no survivor data): the way back is noticed even with no
// request to make, e.g. while signed in offline.
export function probe() {
  probing ||= fetch('/health', { cache: 'no-store', credentials: 'omit' })
    .then(() => learnt(true), () => learnt(false))
    .finally(() => { probing = null; });
  return probing;
}

// While the server does not answer: a probe every few seconds, and at once when the device says it is
// online again.
const PROBE_SECONDS = 3;
setInterval(() => { if (!reachable) probe(); }, PROBE_SECONDS * 1000);
window.addEventListener('online', () => probe());
