// The service worker: keeps the app's shell (its HTML, scripts, styles, catalogues) so the app opens
// without a network. It never keeps an API answer: /v1 goes to the network, always (the offline copy
// of cases is the app's own, encrypted, in IndexedDB). Online, each file is fetched (revalidated with
// its ETag) and the kept copy refreshed; offline, the kept copy is used.
const VERSION = 'casetrail-shell-7';
// One file a line, in order: add a file where it sorts (a unit test checks the list against the folder).
const SHELL = [
  '/',
  '/app/api.js',
  '/app/app.css',
  '/app/commands.js',
  '/app/crypto.js',
  '/app/dom.js',
  '/app/i18n.js',
  '/app/i18n/ar.json',
  '/app/i18n/en.json',
  '/app/i18n/fr.json',
  '/app/icon.svg',
  '/app/main.js',
  '/app/manifest.webmanifest',
  '/app/network.js',
  '/app/session.js',
  '/app/store.js',
  '/app/sync.js',
  '/app/views/admin_pathway.js',
  '/app/views/admin_users.js',
  '/app/views/approvals.js',
  '/app/views/audit.js',
  '/app/views/case_routes.js',
  '/app/views/casefile.js',
  '/app/views/cases.js',
  '/app/views/common.js',
  '/app/views/conflict.js',
  '/app/views/login.js',
  '/app/views/logout.js',
  '/app/views/notifications.js',
  '/app/views/offline_routes.js',
  '/app/views/queue.js',
  '/app/views/referrals_in.js',
  '/app/views/register.js',
  '/app/views/role_kit.js',
  '/app/views/role_routes.js',
  '/app/views/steps/assessment.js',
  '/app/views/steps/closure.js',
  '/app/views/steps/conference.js',
  '/app/views/steps/consent.js',
  '/app/views/steps/follow_up.js',
  '/app/views/steps/plan.js',
  '/app/views/steps/referral.js',
  '/app/views/steps/step.js',
  '/app/views/supervise.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(VERSION).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== VERSION).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  // A page load of / is the app; any other page load (an API address typed in the bar, a file of the app
  // opened on its own) goes to the network as it is, never answered with the app.
  const navigate = event.request.mode === 'navigate';
  const shell = navigate ? (url.pathname === '/' ? '/' : null) : url.pathname.startsWith('/app/') ? url.pathname : null;
  if (shell === null) return; // the API: network only
  event.respondWith((async () => {
    const cache = await caches.open(VERSION);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(shell, response.clone());
      return response;
    } catch (offline) {
      const kept = await cache.match(shell);
      if (kept) return kept;
      throw offline;
    }
  })());
});
