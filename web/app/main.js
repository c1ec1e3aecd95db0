// The app's entry: the bar (navigation, language, who is signed in), the router (#/...), and the
// service worker that keeps the shell offline. Screens by role: see web/README.md.
import { onQueueChange, pending } from './commands.js';
import { h, show } from './dom.js';
import { initialLanguage, LANGUAGES, language, setLanguage, t } from './i18n.js';
import { onReachability, serverReachable } from './network.js';
import * as session from './session.js';
import * as sync from './sync.js';
import { caseLinks, caseRoutes } from './views/case_routes.js';
import { heading } from './views/common.js';
import { loginView } from './views/login.js';
import { logoutOrConfirm } from './views/logout.js';
import { offlineLinks, offlineRoutes } from './views/offline_routes.js';
import { roleLinks, roleRoutes } from './views/role_routes.js';

const main = document.getElementById('main');
const bar = document.getElementById('bar');
// Routes by area (each file owns its screens); the first whose pattern matches and whose roles include
// the user's is shown. A role's home is its first link.
const ROUTES = [...offlineRoutes, ...caseRoutes, ...roleRoutes];
const LINKS = [caseLinks, roleLinks, offlineLinks];

function home(role) {
  return linksOf(role)[0]?.[0];
}

function linksOf(role) {
  return LINKS.flatMap((links) => links[role] || []);
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function languageSwitch() {
  const chooser = h('select', { id: 'language', name: 'language', onchange: async () => {
    await setLanguage(chooser.value);
    await render();
    document.getElementById('language')?.focus();
  } }, Object.entries(LANGUAGES).map(([code, { name }]) =>
    h('option', { value: code, lang: code, selected: code === language() }, name)));
  return h('div', { class: 'language' }, h('label', { for: 'language' }, t('nav.language')), chooser);
}

function renderBar() {
  const user = session.current();
  const links = user ? linksOf(user.role).map(([href, key]) => h('a', { href }, t(key))) : [];
  show(bar, h('span', { class: 'brand' }, t('app.name')),
    h('nav', { 'aria-label': t('nav.label') }, links),
    languageSwitch(),
    user ? h('div', { class: 'who' }, h('span', {}, t('nav.signed_in', { name: user.display_name,
      role: t(`role.${user.role}`) })),
    h('button', { type: 'button', onclick: () => logoutOrConfirm(go) }, t('nav.logout')))
      : null);
  document.querySelector('.skip').textContent = t('nav.skip');
  document.title = t('app.name');
}

function comingNext(screen, user) {
  show(screen, heading(t('home.title', { name: user.display_name })), h('p', {}, t('home.coming_next')));
}

function routeFor(path, role) {
  for (const route of ROUTES) {
    const match = route.roles.includes(role) ? path.match(route.pattern) : null;
    if (match) return { view: route.view, match };
  }
  return null;
}

// Each render draws into a screen of its own: a view still waiting for an answer when the user has moved
// on (another link, the language, a logout) finishes into its detached screen, never over the newer one.
let latest = 0;

async function render() {
  const mine = ++latest;
  renderBar();
  const screen = h('div', { class: 'screen' });
  show(main, screen);
  const user = session.current();
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const context = { go, params };
  let focusTarget;
  if (!user || session.needsSignIn()) {
    focusTarget = loginView(screen, context);
    if (user) screen.querySelector('h1')?.after(h('p', { class: 'notice' }, t('offline.sign_in_again')));
  } else {
    const route = routeFor(path, user.role);
    if (route) {
      const drawing = route.view(screen, context, route.match); // draws its heading at once, then loads
      if (mine === latest) document.getElementById('page-title')?.focus(); // announced while it loads
      focusTarget = await drawing;
    }
    else if (home(user.role) && home(user.role) !== `#${path}`) go(home(user.role));
    else comingNext(screen, user);
  }
  // Once loaded, the focus goes where the view says, unless the user has already moved it (a keyboard
  // user who tabbed on while the data loaded keeps their place).
  const focused = document.activeElement;
  const untouched = !focused || focused === document.body || focused.id === 'page-title';
  if (mine === latest && untouched) (focusTarget || document.getElementById('page-title'))?.focus();
}

// The bar's status line (#status, a polite live region): offline, signed in offline, changes waiting.
async function renderStatus() {
  const status = document.getElementById('status');
  const waiting = session.current() ? (await pending()).length : 0;
  const parts = [];
  if (session.needsSignIn()) parts.push(t('offline.back_online'));
  else if (session.offline()) parts.push(t('offline.signed_in_offline'));
  else if (!serverReachable() && session.current()) parts.push(t('offline.offline'));
  if (waiting) parts.push(t('offline.waiting', { n: waiting }));
  const text = parts.join(' · ');
  if (status.textContent !== text) status.textContent = text;
}

// A minute before the idle timeout wipes the device: a warning naming what would be lost.
async function renderIdle(warning) {
  document.getElementById('idle')?.remove();
  if (!warning) return;
  const n = (await pending()).length;
  const back = h('button', { type: 'button', class: 'primary', onclick: () => session.stillHere() }, t('idle.still_here'));
  main.before(h('aside', { id: 'idle', class: 'idle', 'aria-label': t('idle.label') },
    h('div', { class: 'alert', role: 'alert' }, h('p', {}, t('idle.warning', { n })), back)));
}

session.onChange((user) => {
  renderBar();
  renderStatus();
  if (user && !session.offline()) sync.start();
  else sync.stop();
});
session.onEnd(() => go('#/login'));
session.onIdle(renderIdle);
onQueueChange(renderStatus);
window.addEventListener('hashchange', render);
onReachability(() => { renderStatus(); if (session.offline()) render(); });

async function start() {
  await session.wipeIfIdle();
  await setLanguage(initialLanguage());
  await render();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/' }).catch(() => {});
  }
}

start();
