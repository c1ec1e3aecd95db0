// The case file, read only for now: what the API shows of the case (GET /v1/cases/{id}). Every value
// is set as text. Offline, the copy kept at the last visit (sealed, store.js).
import { api } from '../api.js';
import { h } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import * as store from '../store.js';
import { alertBox, heading, riskText, stageText } from './common.js';
import { supervisorActions } from './supervise.js';

function rows(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
}

const yesNo = (value) => (value ? t('common.yes') : t('common.no'));

function section(titleKey, ...content) {
  const id = `section-${titleKey.replace(/\W/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, t(titleKey)), ...content);
}

export async function caseFileView(main, context) {
  const { caseId } = context;
  main.replaceChildren(heading(t('case.title')), h('p', { 'aria-busy': 'true' }, t('common.loading')));
  let file;
  let offline = false;
  try {
    file = (await api('GET', `/v1/cases/${caseId}`)).body;
    store.save(`case/${caseId}`, file).catch(() => {});
  } catch (error) {
    file = error.code === 'offline' ? await store.load(`case/${caseId}`).catch(() => undefined) : undefined;
    if (!file) {
      main.replaceChildren(heading(t('case.title')), alertBox(error),
        h('p', {}, h('a', { href: '#/cases' }, t('nav.cases'))));
      return;
    }
    offline = true;
  }
  const survivor = file.survivor || {};
  main.replaceChildren(
    heading(t('case.heading', { number: file.case_number })),
    offline ? h('p', { class: 'notice' }, t('case.offline_copy')) : null,
    section('case.summary', rows([
      [t('cases.stage'), stageText(file.stage)], [t('cases.risk'), riskText(file.risk_level)],
      [t('cases.assigned_to'), file.assigned_to], [t('case.child'), yesNo(file.is_child)],
      [t('case.version'), String(file.version)], [t('case.created_at'), formatDate(file.created_at, true)],
      [t('case.updated_at'), formatDate(file.updated_at, true)]])),
    section('register.survivor', rows([
      [t('register.name'), survivor.name], [t('register.sex'), survivor.sex && t(`sex.${survivor.sex}`)],
      [t('register.date_of_birth'), survivor.date_of_birth], [t('register.phone'), survivor.phone],
      [t('register.location'), survivor.location],
      [t('register.caregiver_name'), file.caregiver?.name], [t('register.relationship'), file.caregiver?.relationship],
      [t('register.intake_notes'), file.intake_notes]])),
    section('case.consent', file.consent ? rows([
      [t('case.consent_services'), yesNo(file.consent.services)],
      [t('case.consent_share'), yesNo(file.consent.share_with_providers)],
      [t('case.consent_withdrawn'), yesNo(file.consent.withdrawn)]]) : h('p', {}, t('case.no_consent'))),
    section('case.assessment', file.assessment ? rows([
      [t('case.needs'), file.assessment.needs.map((need) => t(`service.${need}`)).join(', ')],
      [t('case.safety_concerns'), file.assessment.safety_concerns]]) : h('p', {}, t('case.no_assessment'))),
    section('case.plan', rows([[t('case.plan_status'), t(`plan.${file.plan.status}`)]]),
      file.plan.goals.length ? h('ul', {}, file.plan.goals.map((goal) => h('li', {},
        `${t(`service.${goal.need}`)}: ${goal.action} (${goal.responsible}, ${goal.due_date})`))) : null),
    section('case.follow_up', rows([
      [t('cases.next_due'), formatDate(file.follow_up.next_due, true)],
      [t('cases.overdue'), yesNo(file.follow_up.overdue)],
      [t('case.follow_ups'), String(file.follow_up.count)]])),
    section('case.closure', rows([[t('case.closure_status'), t(`closure.${file.closure.status}`)]])),
    ...supervisorActions(file, context),
    h('p', {}, h('a', { href: '#/cases' }, t('nav.cases'))));
}
