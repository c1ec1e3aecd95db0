// The queue (#/queue): the changes not sent yet (waiting for the network, refused, or in conflict), in
// the order made, with "send now" and a discard that asks first. Nothing leaves the queue unseen.
import { discard, flush, pending } from '../commands.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as session from '../session.js';
import * as store from '../store.js';
import { heading, problemText } from './common.js';

export function labelText(command) {
  const text = command.label ? t(command.label) : command.label;
  return !text || text === command.label ? t('queue.change') : text;
}

export async function caseNumber(caseId) {
  return (await store.load(`case/${caseId}`).catch(() => undefined))?.case_number || t('queue.unknown_case');
}

function stateOf(command) {
  if (command.status === 'conflict') {
    return h('a', { href: `#/conflicts/${command.id}` }, t('queue.reconcile'));
  }
  if (command.status === 'failed') {
    return h('span', { class: 'tag danger' }, t('queue.failed'), ': ', problemText(command.error || {}));
  }
  return t('queue.waiting');
}

// A discard asks first, in place: the row's button becomes "yes, discard" / "keep it".
export function discardButton(command, done) {
  const cell = h('div', { class: 'actions' });
  const ask = () => show(cell,
    h('span', { role: 'alert' }, t('queue.discard_confirm')),
    h('button', { type: 'button', onclick: async () => { await discard(command.id); done(); } }, t('queue.discard_yes')),
    h('button', { type: 'button', onclick: () => { offer(); cell.querySelector('button')?.focus(); } },
      t('queue.discard_no')));
  const offer = () => show(cell, h('button', { type: 'button', onclick: () => {
    ask();
    cell.querySelector('button')?.focus();
  } }, t('queue.discard')));
  offer();
  return cell;
}

export async function queueView(main, { go }) {
  const commands = await pending();
  const rows = await Promise.all(commands.map(async (command) => h('tr', {},
    h('th', { scope: 'row' }, h('a', { href: `#/cases/${command.caseId}` }, await caseNumber(command.caseId))),
    h('td', {}, labelText(command)),
    h('td', {}, formatDate(command.when, true)),
    h('td', {}, stateOf(command)),
    h('td', {}, discardButton(command, () => go('#/queue'))))));
  const send = h('button', { type: 'button', class: 'primary', onclick: async () => {
    send.disabled = true;
    await flush();
    go('#/queue');
  } }, t('queue.send_now'));
  show(main, heading(t('queue.title')),
    session.offline() ? h('p', { class: 'notice' }, t('queue.signed_in_offline')) : null,
    commands.length ? h('p', {}, send) : null,
    commands.length ? h('table', { class: 'cases' }, h('caption', {}, t('queue.count', { n: commands.length })),
      h('thead', {}, h('tr', {}, ['queue.case', 'queue.what', 'queue.when', 'queue.state', 'queue.actions']
        .map((key) => h('th', { scope: 'col' }, t(key))))),
      h('tbody', {}, rows)) : h('p', {}, t('queue.empty')));
}
