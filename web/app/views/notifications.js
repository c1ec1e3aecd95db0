// Notifications (GET /v1/notifications): what came to the caseworker or supervisor to act on, newest
// first, each linked to its case and marked read once dealt with. Each is told by its type, with the
// case number: the same words in every language (the API's message is English only).
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { alertBox, heading } from './common.js';

function notificationRow(item, markRead) {
  const text = t(`notification.${item.type}`, { number: item.case_number || '' });
  const state = h('td', {}, item.read ? t('notifications.read') : h('strong', {}, t('notifications.unread')));
  const button = item.read ? null : h('button', { type: 'button', onclick: () => markRead(item, row, state, button) },
    t('notifications.mark_read', { number: item.case_number || '' }));
  const row = h('tr', { class: item.read ? null : 'unread' },
    h('th', { scope: 'row' }, item.case_id ? h('a', { href: `#/cases/${item.case_id}` }, text) : text),
    h('td', {}, formatDate(item.created_at, true)), state, h('td', {}, button));
  return row;
}

export async function notificationsView(main) {
  const status = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', {}, t('common.loading')));
  show(main, heading(t('notifications.title')), status);
  let items;
  try {
    items = await every('/v1/notifications', {}, 200);
  } catch (error) {
    show(status, alertBox(error));
    status.setAttribute('aria-busy', 'false');
    return;
  }
  const markRead = async (item, row, state, button) => {
    button.disabled = true;
    try {
      await api('POST', `/v1/notifications/${item.id}/read`);
      show(state, t('notifications.read'));
      row.classList.remove('unread');
      const next = row.nextElementSibling?.querySelector('button') || main.querySelector('#page-title');
      button.remove();
      next.focus();
    } catch (error) {
      button.disabled = false;
      status.prepend(alertBox(error));
    }
  };
  show(status, items.length ? h('table', { class: 'cases' },
    h('caption', {}, t('notifications.count', { n: items.length, unread: items.filter((item) => !item.read).length })),
    h('thead', {}, h('tr', {}, ['notifications.what', 'notifications.when', 'notifications.state', 'notifications.action']
      .map((key) => h('th', { scope: 'col' }, t(key))))),
    h('tbody', {}, items.map((item) => notificationRow(item, markRead))))
    : h('p', {}, t('notifications.none')));
  status.setAttribute('aria-busy', 'false');
}
