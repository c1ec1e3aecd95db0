// A conflict (#/conflicts/<id>): a change refused with 412 because the case moved on since the
// caseworker saw it. Side by side: their change (its fields) and the case as it is now, with what
// happened since their version. They send it again on the current version (a new If-Match and a new
// key), open the case to redo it by hand, or discard it. Never a silent overwrite.
import { api, every } from '../api.js';
import { queuedCommand, resend } from '../commands.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as store from '../store.js';
import { alertBox, eventText, heading, riskText, stageText } from './common.js';
import { discardButton, labelText } from './queue.js';

function value(item) {
  if (item === true) return t('common.yes');
  if (item === false) return t('common.no');
  if (item === null || item === undefined || item === '') return t('common.none');
  return typeof item === 'object' ? JSON.stringify(item) : String(item);
}

// The command's fields, each labelled with its name in the API (the labels the forms show vary by form).
function changeFacts(body) {
  const pairs = Object.entries(body || {});
  if (!pairs.length) return h('p', {}, t('conflict.no_fields'));
  return h('dl', { class: 'facts' }, pairs.map(([name, item]) => [h('dt', {}, name.replace(/_/g, ' ')),
    h('dd', {}, value(item))]));
}

function caseFacts(file) {
  return h('dl', { class: 'facts' },
    h('dt', {}, t('case.version')), h('dd', {}, String(file.version)),
    h('dt', {}, t('cases.stage')), h('dd', {}, stageText(file.stage)),
    h('dt', {}, t('cases.risk')), h('dd', {}, riskText(file.risk_level)),
    h('dt', {}, t('cases.assigned_to')), h('dd', {}, file.assigned_to),
    h('dt', {}, t('case.updated_at')), h('dd', {}, formatDate(file.updated_at, true)));
}

// What happened since the caseworker's version: the history's events after the copy they worked on.
async function since(command) {
  const events = await every(`/v1/cases/${command.caseId}/history`).catch(() => []);
  const recent = events.filter((event) => event.type !== 'CaseViewed'
    && (!command.seenAt || event.occurred_at > command.seenAt));
  if (!recent.length) return h('p', {}, t('conflict.no_events'));
  return h('ul', {}, recent.map((event) => h('li', {}, t('conflict.event', {
    what: eventText(event.type), who: event.actor?.username || '', when: formatDate(event.occurred_at, true) }))));
}

function box(titleId, title, ...content) {
  return h('section', { 'aria-labelledby': titleId }, h('h2', { id: titleId }, title), ...content);
}

export async function conflictView(main, { go }, id) {
  const command = await queuedCommand(id).catch(() => undefined);
  if (!command) {
    show(main, heading(t('conflict.title')), h('p', {}, t('conflict.gone')),
      h('p', {}, h('a', { href: '#/queue' }, t('nav.queue'))));
    return;
  }
  const errors = h('div', {});
  let current = null;
  try {
    current = (await api('GET', `/v1/cases/${command.caseId}`)).body;
    store.save(`case/${command.caseId}`, current).catch(() => {});
  } catch (error) {
    errors.append(alertBox(error));
  }
  const send = h('button', { type: 'button', class: 'primary', disabled: !current, onclick: async () => {
    show(errors);
    send.disabled = true;
    try {
      await resend(id, current.version);
      go(`#/cases/${command.caseId}`);
    } catch (error) {
      send.disabled = false;
      if (error.code === 'version_mismatch') go(`#/conflicts/${id}`);
      else errors.append(alertBox(error));
    }
  } }, t('conflict.send_again'));
  show(main, heading(t('conflict.title')),
    h('p', { class: 'notice' }, t('conflict.intro', { version: command.version })),
    errors,
    h('div', { class: 'side-by-side' },
      box('conflict-theirs', t('conflict.your_change', { what: labelText(command) }),
        h('p', {}, t('conflict.made_at', { when: formatDate(command.when, true), version: command.version })),
        changeFacts(command.body)),
      current ? box('conflict-now', t('conflict.case_now', { number: current.case_number }), caseFacts(current),
        h('h3', {}, t('conflict.since')), await since(command)) : null),
    h('div', { class: 'actions' }, send,
      h('a', { href: `#/cases/${command.caseId}`, class: 'button' }, t('conflict.open_case'))),
    discardButton(command, () => go('#/queue')));
}
