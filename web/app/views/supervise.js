// A supervisor's actions on a case file: reassign it to a caseworker of the team, and erase the
// survivor's identifying data (their request to be forgotten). Both are case commands, sent with
// the version the supervisor saw (commands.js). Erasure cannot be undone: a second step asks for
// the case number. Other roles get nothing.
import { every } from '../api.js';
import { sendCommand } from '../commands.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as session from '../session.js';
import { field, select } from './common.js';
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

// Whom a reassignment may name: the supervisor's active team (GET /v1/team), the case's own
// caseworker aside, as "display name (username)".
async function teamChoices(file) {
  const team = await every('/v1/team');
  return team.filter((member) => member.username !== file.assigned_to).map((member) => [member.username,
    t('supervise.member', { name: member.display_name, username: member.username })]);
}

// The caseworker control: a choice of the team once it is loaded; a typed username only when the team
// cannot be loaded (no network: the reassignment is then queued like any command). Answers a reader of
// the caseworker named.
function caseworkerControl(file, slot, submit) {
  let control = null;
  const offer = (made, label, hint) => {
    control = made;
    show(slot, field(label, made, hint));
    submit.disabled = false;
  };
  teamChoices(file).then((choices) => {
    if (choices.length) {
      offer(select('caseworker', choices, { empty: t('supervise.choose'), required: true }),
        t('supervise.caseworker'), t('supervise.caseworker_hint'));
    } else {
      show(slot, h('p', {}, t('supervise.no_team')));
      submit.hidden = true;
    }
  }, () => offer(h('input', { name: 'caseworker', required: true, autocomplete: 'off', autocapitalize: 'none',
    spellcheck: 'false' }), t('supervise.caseworker_username'), t('supervise.team_unavailable')))
    .finally(() => slot.setAttribute('aria-busy', 'false'));
  return () => control.value.trim();
}

function reassignForm(file, context) {
  const slot = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', {}, t('common.loading')));
  const errors = h('div', {});
  const status = statusLine();
  const submit = h('button', { type: 'submit', disabled: true }, t('supervise.reassign'));
  const caseworker = caseworkerControl(file, slot, submit);
  return section('supervise-reassign', t('supervise.reassign_title'),
    h('form', { onsubmit: (event) => {
      event.preventDefault();
      submitting(submit, errors, async () => settle(await sendCommand({ caseId: file.id,
        path: `/v1/cases/${file.id}/reassign`, body: { caseworker: caseworker() }, version: file.version,
        label: 'supervise.reassign' }), file, context, status));
    } }, errors, status, slot, submit));
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
