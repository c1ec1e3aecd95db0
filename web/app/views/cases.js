// "My cases" (a supervisor: the team's): overdue follow-ups first, then by case number, with stage and
// risk filters kept in the address (#/cases?stage=...&risk_level=...). Offline, the last list seen.
import { every } from '../api.js';
import { pending } from '../commands.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as session from '../session.js';
import * as store from '../store.js';
import { alertBox, field, heading, riskText, RISKS, select, stageText, STAGES } from './common.js';

export async function casesList(filters) {
  const [overdue, rest] = await Promise.all([every('/v1/cases', { ...filters, overdue: true }),
    every('/v1/cases', { ...filters, overdue: false })]);
  return [...overdue, ...rest];
}

export async function casesView(main, { go, params }) {
  const filters = { stage: params.get('stage') || '', risk_level: params.get('risk_level') || '' };
  const stage = select('stage', STAGES.map((s) => [s, stageText(s)]), { value: filters.stage, empty: t('cases.any') });
  const risk = select('risk_level', RISKS.map((r) => [r, riskText(r)]), { value: filters.risk_level,
    empty: t('cases.any') });
  const apply = (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (stage.value) query.set('stage', stage.value);
    if (risk.value) query.set('risk_level', risk.value);
    go(`#/cases${[...query].length ? `?${query}` : ''}`);
  };
  const title = session.current()?.role === 'supervisor' ? t('cases.team_title') : t('cases.title');
  const results = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', {}, t('common.loading')));
  show(main,
    heading(title),
    h('p', {}, h('a', { href: '#/cases/new', class: 'button primary' }, t('nav.register'))),
    h('form', { class: 'filters', role: 'search', 'aria-label': t('cases.filters'), onsubmit: apply },
      field(t('cases.stage'), stage), field(t('cases.risk'), risk),
      h('button', { type: 'submit' }, t('cases.apply'))),
    results);

  const key = `list?${new URLSearchParams(filters)}`;
  let cases;
  let offline = false;
  try {
    cases = await casesList(filters);
    store.save(key, cases).catch(() => {});
  } catch (error) {
    cases = error.code === 'offline' ? await offlineCopy(key, filters) : undefined;
    if (!cases) {
      show(results, alertBox(error));
      results.setAttribute('aria-busy', 'false');
      return;
    }
    offline = true;
  }
  const waiting = new Set((await pending()).map((command) => command.caseId));
  show(results,
    offline ? h('p', { class: 'notice' }, t('cases.offline_copy')) : null,
    cases.length ? casesTable(cases, waiting) : h('p', {}, t('cases.none')));
  results.setAttribute('aria-busy', 'false');
}

// Offline: the list kept for these filters, else the whole list kept (the changes feed keeps it), filtered here.
async function offlineCopy(key, filters) {
  const kept = await store.load(key).catch(() => undefined);
  if (kept) return kept;
  const all = await store.load(`list?${new URLSearchParams({ stage: '', risk_level: '' })}`).catch(() => undefined);
  return all?.filter((item) => (!filters.stage || item.stage === filters.stage)
    && (!filters.risk_level || item.risk_level === filters.risk_level));
}

function casesTable(cases, waiting) {
  return h('table', { class: 'cases' },
    h('caption', {}, t('cases.count', { n: cases.length })),
    h('thead', {}, h('tr', {}, ['cases.number', 'cases.stage', 'cases.risk', 'cases.next_due', 'cases.assigned_to']
      .map((key) => h('th', { scope: 'col' }, t(key))))),
    h('tbody', {}, cases.map((item) => h('tr', { class: item.follow_up.overdue ? 'overdue' : null },
      h('th', { scope: 'row' }, h('a', { href: `#/cases/${item.id}` }, item.case_number),
        item.is_child ? h('span', { class: 'tag' }, t('cases.child')) : null,
        waiting.has(item.id) ? h('span', { class: 'tag' }, t('cases.waiting')) : null),
      h('td', {}, stageText(item.stage)),
      h('td', {}, h('span', { class: `risk risk-${item.risk_level}` }, riskText(item.risk_level))),
      h('td', {}, item.follow_up.overdue ? h('strong', { class: 'tag danger' }, t('cases.overdue')) : null, ' ',
        formatDate(item.follow_up.next_due, true)),
      h('td', {}, item.assigned_to)))));
}
