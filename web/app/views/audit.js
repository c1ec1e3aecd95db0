// An auditor's screens: find a case by its number (GET /v1/cases?case_number=, the one listing an
// auditor may make: their organisation's case of that number, or none) or by its id, then its history (every event of the chain, its data shown as text, never markup),
// the chain's verification, and the signed export offered as a JSON file (a Blob URL: nothing leaves
// the page, and the Content-Security-Policy needs no change).
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { alertBox, eventText, field, heading } from './common.js';
import { busy, dataTable, fill, statusLine, submitting } from './role_kit.js';

const CASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The id of the case of this number in the auditor's organisation, or null. Numbers are written in
// capitals; one typed in small letters is tried so too.
async function caseIdOf(number) {
  for (const tried of new Set([number, number.toUpperCase()])) {
    const found = (await api('GET', '/v1/cases', { params: { case_number: tried } })).body.items;
    if (found.length) return found[0].id;
  }
  return null;
}

export function findView(main, { go }) {
  const wanted = h('input', { name: 'case', required: true, autocomplete: 'off', spellcheck: 'false' });
  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t('audit.find'));
  show(main, heading(t('audit.find_title')),
    h('form', { class: 'card', role: 'search', 'aria-labelledby': 'page-title', onsubmit: (event) => {
      event.preventDefault();
      const typed = wanted.value.trim();
      if (CASE_ID.test(typed)) {
        go(`#/audit/${typed.toLowerCase()}`);
        return;
      }
      submitting(submit, errors, async () => {
        const caseId = await caseIdOf(typed);
        if (caseId) go(`#/audit/${caseId}`);
        else show(errors, h('div', { class: 'alert', role: 'alert' }, t('audit.no_such_number', { number: typed })));
      });
    } }, errors, field(t('audit.case'), wanted, t('audit.case_hint')), submit));
  return wanted;
}

// An event's name for people, its technical name beside it (what the audit CLI and exports say).
function eventName(type) {
  return type ? [eventText(type), ' ', h('code', { class: 'event-type' }, type)] : '';
}

function historyRow(item) {
  const actor = item.actor ? t('audit.actor', { name: item.actor.username, role: t(`role.${item.actor.role}`) }) : '';
  const data = item.data ? h('details', {}, h('summary', {}, t('audit.data')),
    h('pre', { class: 'data' }, JSON.stringify(item.data, null, 2))) : t(item.missing ? 'audit.missing'
    : item.unreadable ? 'audit.unreadable' : 'common.none');
  return [String(item.sequence), eventName(item.type), formatDate(item.occurred_at, true), actor,
    h('code', { class: 'hash' }, item.hash), data];
}

function verification(result) {
  const verdict = result.valid ? t('audit.valid', { n: result.events })
    : t('audit.invalid', { sequence: result.first_bad_sequence ?? '?' });
  return [h('p', { class: result.valid ? 'verdict ok' : 'alert' }, verdict),
    result.head_hash ? h('p', {}, t('audit.head_hash'), ' ', h('code', { class: 'hash' }, result.head_hash)) : null];
}

function verifySection(caseId) {
  const result = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'primary' }, t('audit.verify'));
  button.addEventListener('click', () => submitting(button, result, async () => {
    show(result, ...verification((await api('GET', `/v1/cases/${caseId}/verify`)).body));
  }));
  return h('section', { 'aria-labelledby': 'audit-verify' }, h('h2', { id: 'audit-verify' }, t('audit.verification')),
    h('p', {}, t('audit.verify_intro')), button, result);
}

let exported = null; // the last export's Blob URL, let go when another is made

function exportSection(caseId, caseNumber) {
  const result = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button' }, t('audit.prepare_export'));
  button.addEventListener('click', () => submitting(button, result, async () => {
    const bundle = (await api('GET', `/v1/cases/${caseId}/export`)).body;
    if (exported) URL.revokeObjectURL(exported);
    // The bundle is canonical JSON (RFC 8785); JSON.stringify of what was parsed writes it the same.
    exported = URL.createObjectURL(new Blob([JSON.stringify(bundle)], { type: 'application/json' }));
    show(result, statusLine(t('audit.export_ready')), h('p', {}, h('a', { href: exported,
      download: `casetrail-${caseNumber}.json`, class: 'button primary' }, t('audit.download'))));
  }));
  return h('section', { 'aria-labelledby': 'audit-export' }, h('h2', { id: 'audit-export' }, t('audit.export')),
    h('p', {}, t('audit.export_intro')), button, result);
}

export async function auditCaseView(main, context, match) {
  const caseId = match[1];
  show(main, heading(t('audit.title')), busy());
  let file;
  try {
    file = (await api('GET', `/v1/cases/${caseId}`)).body;
  } catch (error) {
    show(main, heading(t('audit.title')), alertBox(error),
      h('p', {}, h('a', { href: '#/audit' }, t('audit.nav'))));
    return;
  }
  const history = busy();
  show(main, heading(t('audit.heading', { number: file.case_number })),
    verifySection(caseId), exportSection(caseId, file.case_number),
    h('section', { 'aria-labelledby': 'audit-history' }, h('h2', { id: 'audit-history' }, t('audit.history')), history),
    h('p', {}, h('a', { href: '#/audit' }, t('audit.nav'))));
  await fill(history, () => every(`/v1/cases/${caseId}/history`), (items) => dataTable(
    t('audit.events', { n: items.length }), ['audit.sequence', 'audit.type', 'audit.when', 'audit.who', 'audit.hash',
      'audit.data'], items.map(historyRow)));
}
