// Signing out wipes the device, the queue included: with changes waiting, the caseworker confirms first.
import { pending } from '../commands.js';
import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import * as session from '../session.js';
import { heading } from './common.js';

// The bar's "Log out": straight out when nothing waits, else to the confirmation (#/logout).
export async function logoutOrConfirm(go) {
  if ((await pending()).length) {
    go('#/logout');
    return;
  }
  await session.logout();
  go('#/login');
}

export async function logoutView(main, { go }) {
  const n = (await pending()).length;
  show(main, heading(t('logout.title')),
    h('p', { class: 'alert', role: 'alert' }, t('logout.waiting', { n })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: async () => { await session.logout(); go('#/login'); } },
        t('logout.confirm')),
      h('a', { href: '#/queue', class: 'button primary' }, t('logout.see_queue'))));
}
