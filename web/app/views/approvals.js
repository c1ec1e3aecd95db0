// A supervisor's approvals: the team's requests (plans and closures), pending first, with a status
// filter kept in the address (#/approvals?status=...); a pending one is decided on its own screen:
// approve, or reject with a comment (the API refuses a rejection without one).
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { alertBox, field, heading, select } from './common.js';
import { busy, carriedMessage, carry, dataTable, fill, formKey, submitting } from './role_kit.js';

const STATUSES = ['pending', 'approved', 'rejected'];

function requestRow(request) {
  return [h('a', { href: `#/cases/${request.case_id}` }, request.case_number),
    t(`approval_kind.${request.type}`), request.requested_by, formatDate(request.requested_at, true),
    t(`approval_status.${request.status}`),
    request.status === 'pending' ? h('a', { href: `#/approvals/${request.id}`, class: 'button' },
      t('approvals.decide')) : request.comment || ''];
}

export async function approvalsView(main, { go, params }) {
  const status = params.get('status') ?? 'pending';
  const chooser = select('status', STATUSES.map((s) => [s, t(`approval_status.${s}`)]),
    { value: status, empty: t('approvals.any') });
  const results = busy();
  show(main, heading(t('approvals.title')), carriedMessage(),
    h('form', { class: 'filters', role: 'search', 'aria-label': t('approvals.filter'), onsubmit: (event) => {
      event.preventDefault();
      go(`#/approvals?status=${chooser.value}`);
    } }, field(t('approvals.status'), chooser), h('button', { type: 'submit' }, t('cases.apply'))),
    results);
  await fill(results, () => every('/v1/approvals', { status }), (requests) => (requests.length
    ? dataTable(t('approvals.count', { n: requests.length }), ['cases.number', 'approvals.kind',
      'approvals.requested_by', 'approvals.requested_at', 'approvals.status', 'approvals.decision'],
    requests.map(requestRow))
    : h('p', {}, t('approvals.none'))));
}

async function pendingRequest(id) {
  return (await every('/v1/approvals', { status: 'pending' })).find((request) => request.id === id);
}

export async function decisionView(main, { go }, match) {
  const id = match[1];
  show(main, heading(t('approvals.decide_title')), busy());
  let request;
  try {
    request = await pendingRequest(id);
  } catch (error) {
    show(main, heading(t('approvals.decide_title')), alertBox(error));
    return undefined;
  }
  if (!request) {
    show(main, heading(t('approvals.decide_title')), h('p', {}, t('approvals.gone')),
      h('p', {}, h('a', { href: '#/approvals' }, t('approvals.nav'))));
    return undefined;
  }
  return decisionForm(main, go, request);
}

function decisionForm(main, go, request) {
  const keys = { approve: formKey(), reject: formKey() }; // a different body needs a key of its own
  const comment = h('textarea', { name: 'comment', rows: 4, maxlength: 5000 });
  const errors = h('div', {});
  const decide = (decision) => async (event) => {
    const button = event.currentTarget;
    if (decision === 'reject' && !comment.value.trim()) {
      show(errors, h('div', { class: 'alert', role: 'alert' }, t('approvals.comment_needed')));
      comment.focus();
      return;
    }
    await submitting(button, errors, async () => {
      const body = { decision, comment: comment.value.trim() || null };
      try {
        await api('POST', `/v1/approvals/${request.id}/decision`, { body, idempotencyKey: keys[decision].get() });
      } catch (error) {
        keys[decision].refused(error);
        throw error;
      }
      carry(t(`approvals.done_${decision}`, { number: request.case_number }));
      go('#/approvals');
    });
  };
  show(main, heading(t('approvals.decide_heading', { kind: t(`approval_kind.${request.type}`),
    number: request.case_number })),
  h('dl', { class: 'facts' },
    h('dt', {}, t('cases.number')), h('dd', {}, h('a', { href: `#/cases/${request.case_id}` }, request.case_number)),
    h('dt', {}, t('approvals.requested_by')), h('dd', {}, request.requested_by),
    h('dt', {}, t('approvals.requested_at')), h('dd', {}, formatDate(request.requested_at, true))),
  h('form', { class: 'card', 'aria-labelledby': 'page-title', onsubmit: (event) => event.preventDefault() },
    errors, field(t('approvals.comment'), comment, t('approvals.comment_hint')),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: decide('approve') }, t('approvals.approve')),
      h('button', { type: 'button', onclick: decide('reject') }, t('approvals.reject')),
      h('a', { href: '#/approvals', class: 'button' }, t('common.cancel')))));
  return undefined;
}
