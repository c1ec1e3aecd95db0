// A supervisor's actions on a case file: reassign it to a caseworker of the team, and erase the
// survivor's identifying data (their request to be forgotten). Both are case commands, sent with
// the version the supervisor saw (commands.js). Erasure cannot be undone: a second step asks for
// the case number. Other roles get nothing.
import { every } from '../api.js';
import { sendCommand } from '../commands.js';
import { h, show, uid } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as session from '../session.js';
import { field } from './common.js';
import { statusLine, submitting } from './role_kit.js';

function section(id, title, ...content) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

// What a command's answer means for the screen: the file again, a queued notice, or the conflict.
function settle(outcome, file, context, status) {
  if (outcome.conflict) context.go(`#/conflicts/${outcome.conflict}`);
  else if (outcome.queued) status.textContent = t('supervise.queued');
  else context.go(`#/cases/${file.id}`);
}

// The team's caseworkers the supervisor can see (those holding the team's cases): suggestions only,
// since the API has no list of a supervisor's team.
async function suggest(list, file) {
  const cases = await every('/v1/cases').catch(() => []);
  const names = [...new Set(cases.map((item) => item.assigned_to))].filter((name) => name !== file.assigned_to);
  show(list, ...names.sort().map((name) => h('option', { value: name })));
}

function reassignForm(file, context) {
  const listId = uid('team');
  const caseworker = h('input', { name: 'caseworker', required: true, list: listId, autocomplete: 'off',
    autocapitalize: 'none', spellcheck: 'false' });
  const team = h('datalist', { id: listId });
  suggest(team, file);
  const errors = h('div', {});
  const status = statusLine();
  const submit = h('button', { type: 'submit' }, t('supervise.reassign'));
  return section('supervise-reassign', t('supervise.reassign_title'),
    h('form', { onsubmit: (event) => {
      event.preventDefault();
      submitting(submit, errors, async () => settle(await sendCommand({ caseId: file.id,
        path: `/v1/cases/${file.id}/reassign`, body: { caseworker: caseworker.value.trim() }, version: file.version,
        label: 'supervise.reassign' }), file, context, status));
    } }, errors, status, field(t('supervise.caseworker'), caseworker, t('supervise.caseworker_hint')), team, submit));
}

function eraseForm(file, context) {
  const reason = h('textarea', { name: 'reason', rows: 3, maxlength: 5000, required: true });
  const typed = h('input', { name: 'confirm_case_number', autocomplete: 'off', spellcheck: 'false' });
  const errors = h('div', {});
  const status = statusLine();
  const submit = h('button', { type: 'submit' }, t('supervise.erase'));
  const confirm = h('div', { hidden: true },
    h('p', { class: 'alert', id: 'erase-warning' }, t('supervise.erase_warning', { number: file.case_number })),
    field(t('supervise.erase_confirm', { number: file.case_number }), typed));
  const form = h('form', { onsubmit: (event) => {
    event.preventDefault();
    if (confirm.hidden) { // the first step only shows what cannot be undone
      confirm.hidden = false;
      submit.textContent = t('supervise.erase_for_good');
      typed.focus();
      return;
    }
    if (typed.value.trim() !== file.case_number) {
      show(errors, h('div', { class: 'alert', role: 'alert' }, t('supervise.erase_mismatch')));
      typed.focus();
      return;
    }
    submitting(submit, errors, async () => settle(await sendCommand({ caseId: file.id,
      path: `/v1/cases/${file.id}/erase`, body: { reason: reason.value }, version: file.version,
      label: 'supervise.erase' }), file, context, status));
  } }, errors, status, field(t('supervise.erase_reason'), reason), confirm, submit);
  return section('supervise-erase', t('supervise.erase_title'), h('p', {}, t('supervise.erase_intro')), form);
}

function erased(file) {
  return section('supervise-erased', t('supervise.erased_title'), h('p', {}, t('supervise.erased', {
    by: file.erasure.erased_by, at: formatDate(file.erasure.erased_at, true) })));
}

export function supervisorActions(file, context) {
  if (session.current()?.role !== 'supervisor') return [];
  if (file.erasure) return [erased(file)];
  const actions = [eraseForm(file, context)];
  if (file.stage !== 'closed') actions.unshift(reassignForm(file, context));
  return actions;
}
