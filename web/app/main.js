// The app's entry: the bar (navigation, language, who is signed in), the router (#/...), and the
// service worker that keeps the shell offline. Screens by role: see web/README.md.
import { h, show } from './dom.js';
import { initialLanguage, LANGUAGES, language, setLanguage, t } from './i18n.js';
import * as session from './session.js';
import { caseFileView } from './views/casefile.js';
import { casesView } from './views/cases.js';
import { heading } from './views/common.js';
import { loginView } from './views/login.js';
import { registerView } from './views/register.js';

const main = document.getElementById('main');
const bar = document.getElementById('bar');
const CASE_ROLES = ['caseworker', 'supervisor'];

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
  const links = user && CASE_ROLES.includes(user.role)
    ? [h('a', { href: '#/cases' }, t('nav.cases')), h('a', { href: '#/cases/new' }, t('nav.register'))] : [];
  show(bar, h('span', { class: 'brand' }, t('app.name')),
    h('nav', { 'aria-label': t('nav.label') }, links),
    languageSwitch(),
    user ? h('div', { class: 'who' }, h('span', {}, t('nav.signed_in', { name: user.display_name,
      role: t(`role.${user.role}`) })),
    h('button', { type: 'button', onclick: async () => { await session.logout(); go('#/login'); } }, t('nav.logout')))
      : null);
  document.querySelector('.skip').textContent = t('nav.skip');
  document.title = t('app.name');
}

function comingNext(user) {
  main.replaceChildren(heading(t('home.title', { name: user.display_name })), h('p', {}, t('home.coming_next')));
}

async function render() {
  renderBar();
  const user = session.current();
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const context = { go, params };
  let focusTarget;
  if (!user) {
    focusTarget = loginView(main, context);
  } else if (!CASE_ROLES.includes(user.role)) {
    comingNext(user);
  } else if (path === '/cases/new') {
    focusTarget = registerView(main, context);
  } else if (/^\/cases\/[0-9a-f-]{36}$/.test(path)) {
    await caseFileView(main, { ...context, caseId: path.split('/')[2] });
  } else {
    await casesView(main, context);
  }
  (focusTarget || document.getElementById('page-title'))?.focus();
}

session.onChange(() => renderBar());
window.addEventListener('hashchange', render);

async function start() {
  await setLanguage(initialLanguage());
  await render();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/' }).catch(() => {});
  }
}

start();
