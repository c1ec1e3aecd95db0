// The case file: what the API shows of the case (GET /v1/cases/{id}), every value set as text, and the
// steps the caseworker can take at the case's stage (each its own screen, views/steps/). Offline, the
// copy kept at the last visit (sealed, store.js).
import { every } from '../api.js';
import { pendingFor } from '../commands.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { alertBox, heading, riskText, stageText } from './common.js';
import { DOMAINS } from './steps/follow_up.js';
import { loadCase } from './steps/step.js';
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

const BEFORE_ASSESSMENT = ['engagement', 'assessment'];
const MONITORED = ['implementation', 'follow_up'];

// The steps open at the case's stage: [route segment, message key].
export function stepsFor(file) {
  const consent = file.consent && !file.consent.withdrawn ? file.consent : null;
  const withdraw = consent ? [['withdraw-consent', 'step.withdraw']] : [];
  if (file.erasure) return [];
  if (file.stage === 'closed') return [['reopen', 'step.reopen'], ...withdraw];
  const planned = !BEFORE_ASSESSMENT.includes(file.stage);
  return [
    ['consent', 'step.consent'], ...withdraw,
    ...(BEFORE_ASSESSMENT.includes(file.stage) || file.stage === 'case_plan' ? [['assessment', 'step.assessment']] : []),
    ...(planned && file.plan.status !== 'submitted' ? [['plan', 'step.plan']] : []),
    ...(file.plan.status === 'draft' ? [['submit-plan', 'step.submit_plan']] : []),
    ...(MONITORED.includes(file.stage) ? [['follow-up', 'step.follow_up']] : []),
    ...(consent?.services && consent.share_with_providers ? [['referral', 'step.referral']] : []),
    ...(planned ? [['conference', 'step.conference']] : []),
    ...(planned && file.closure.status !== 'requested' ? [['closure', 'step.closure']] : []),
  ];
}

function nextSteps(file) {
  const steps = stepsFor(file);
  if (!steps.length) return null;
  return h('nav', { class: 'steps', 'aria-labelledby': 'section-steps' }, h('h2', { id: 'section-steps' }, t('step.title')),
    h('ul', {}, steps.map(([segment, key]) => h('li', {}, h('a', { href: `#/cases/${file.id}/${segment}` }, t(key))))));
}

function consentSection(consent) {
  if (!consent) return section('case.consent', h('p', {}, t('case.no_consent')));
  return section('case.consent', rows([
    [t('case.consent_services'), yesNo(consent.services)], [t('case.consent_share'), yesNo(consent.share_with_providers)],
    [t('step.reporting_explained'), yesNo(consent.mandatory_reporting_explained)],
    [t('step.given_by'), t(`given_by.${consent.given_by}`)],
    [t('step.child_age'), consent.child_age === undefined ? null : String(consent.child_age)],
    [t('step.child_assent'), consent.child_assent === undefined ? null : yesNo(consent.child_assent)],
    [t('step.best_interests_note'), consent.best_interests_note],
    [t('case.consent_withdrawn'), yesNo(consent.withdrawn)]]));
}

function planSection(plan) {
  return section('case.plan', rows([[t('case.plan_status'), t(`plan.${plan.status}`)],
    [t('step.decided_by'), plan.decided_by === 'policy' ? t('step.by_policy') : plan.decided_by]]),
  plan.goals.length ? h('ul', {}, plan.goals.map((goal) => h('li', {},
    `${t(`service.${goal.need}`)}: ${goal.action} (${goal.responsible}, ${formatDate(goal.due_date)})`))) : null);
}

function monitoringSection(monitoring) {
  if (!monitoring) return null;
  return section('step.ratings',
    h('table', { class: 'cases' }, h('caption', {}, t('step.ratings_caption')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('step.domain')), h('th', { scope: 'col' }, t('step.rating')),
        h('th', { scope: 'col' }, t('step.rated_at')))),
      h('tbody', {}, DOMAINS.map((domain) => {
        const rated = monitoring.ratings[domain];
        return h('tr', {}, h('th', { scope: 'row' }, t(`domain.${domain}`)),
          h('td', {}, rated ? h('span', { class: `rating rating-${rated.rating}` }, t(`rating.${rated.rating}`))
            : t('rating.none')),
          h('td', {}, rated ? formatDate(rated.rated_at, true) : ''));
      }))),
    rows([[t('step.to_discuss'), monitoring.to_discuss.map((domain) => t(`domain.${domain}`)).join(', ')
      || t('common.none')], [t('step.computed_risk'), monitoring.computed_risk && riskText(monitoring.computed_risk)],
    [t('step.raise_reason'), monitoring.raise_reason]]));
}

function referralsSection(file) {
  if (!file.referrals.length) return section('step.referrals', h('p', {}, t('step.no_referrals')));
  const names = new Map();
  const providerCells = [];
  const table = h('table', { class: 'cases' }, h('caption', {}, t('step.referrals_caption', { n: file.referrals.length })),
    h('thead', {}, h('tr', {}, ['step.service_type', 'step.provider', 'step.referral_status']
      .map((key) => h('th', { scope: 'col' }, t(key))))),
    h('tbody', {}, file.referrals.map((referral) => {
      const provider = h('td', {}, '');
      providerCells.push([referral.provider_id, provider]);
      return h('tr', {}, h('th', { scope: 'row' }, t(`service.${referral.service_type}`)), provider,
        h('td', {}, t(`referral_status.${referral.status}`)));
    })));
  // The providers' names, once known (the pathway is shared, and small).
  every('/v1/providers').then((providers) => {
    providers.forEach((provider) => names.set(provider.id, provider.name));
    providerCells.forEach(([id, cell]) => { cell.textContent = names.get(id) || ''; });
  }).catch(() => {});
  return section('step.referrals', table);
}

function approvalsSection(approvals) {
  if (!approvals.length) return null;
  return section('step.approvals', h('ul', {}, approvals.map((approval) => h('li', {},
    t('step.approval_item', { type: t(`approval_type.${approval.type}`), status: t(`approval_status.${approval.status}`),
      by: approval.decided_by || approval.requested_by })))));
}

// Commands made on this device for the case and not yet accepted (queue.js lists and sends them).
async function waitingNotice(caseId) {
  const waiting = await pendingFor(caseId).catch(() => []);
  if (!waiting.length) return null;
  return h('p', { class: 'notice', role: 'status' }, t('case.changes_waiting', { n: waiting.length }), ' ',
    h('a', { href: '#/queue' }, t('nav.queue')));
}

// Why a plan or closure was approved or rejected: the supervisor's comment is the approvals service's
// (the case file only says there is one), read from the caller's approval queue.
async function decisionComments(file, offline) {
  if (offline || !(file.approvals || []).some((approval) => approval.commented)) return null;
  let commented;
  try {
    commented = (await every('/v1/approvals')).filter((item) => item.case_id === file.id && item.comment);
  } catch {
    return null;
  }
  if (!commented.length) return null;
  return section('case.decision_comments', h('ul', {}, commented.map((item) => h('li', {},
    t('case.decision_comment', { type: t(`approval_type.${item.type}`), status: t(`approval_status.${item.status}`),
      by: item.decided_by || '' }), ' ', h('q', {}, item.comment)))));
}

export async function caseFileView(main, context) {
  const { caseId } = context;
  show(main, heading(t('case.title')), h('p', { 'aria-busy': 'true' }, t('common.loading')));
  let loaded;
  try {
    loaded = await loadCase(caseId);
  } catch (error) {
    show(main, heading(t('case.title')), alertBox(error),
      h('p', {}, h('a', { href: '#/cases' }, t('nav.cases'))));
    return;
  }
  const { file, offline } = loaded;
  const survivor = file.survivor || {};
  const [waiting, comments] = await Promise.all([waitingNotice(caseId), decisionComments(file, offline)]);
  show(main,
    heading(t('case.heading', { number: file.case_number })),
    offline ? h('p', { class: 'notice' }, t('case.offline_copy')) : null,
    waiting,
    section('case.summary', rows([
      [t('cases.stage'), stageText(file.stage)], [t('cases.risk'), riskText(file.risk_level)],
      [t('cases.assigned_to'), file.assigned_to], [t('case.child'), yesNo(file.is_child)],
      [t('case.version'), String(file.version)], [t('case.created_at'), formatDate(file.created_at, true)],
      [t('case.updated_at'), formatDate(file.updated_at, true)]])),
    offline ? null : nextSteps(file),
    section('register.survivor', rows([
      [t('register.name'), survivor.name], [t('register.sex'), survivor.sex && t(`sex.${survivor.sex}`)],
      [t('register.date_of_birth'), survivor.date_of_birth], [t('register.phone'), survivor.phone],
      [t('register.location'), survivor.location],
      [t('register.caregiver_name'), file.caregiver?.name], [t('register.relationship'), file.caregiver?.relationship],
      [t('register.intake_notes'), file.intake_notes]])),
    consentSection(file.consent),
    section('case.assessment', file.assessment ? rows([
      [t('case.needs'), file.assessment.needs.map((need) => t(`service.${need}`)).join(', ')],
      [t('case.safety_concerns'), file.assessment.safety_concerns], [t('step.notes'), file.assessment.notes]])
      : h('p', {}, t('case.no_assessment'))),
    planSection(file.plan),
    section('case.follow_up', rows([
      [t('cases.next_due'), formatDate(file.follow_up.next_due, true)],
      [t('cases.overdue'), yesNo(file.follow_up.overdue)],
      [t('case.follow_ups'), String(file.follow_up.count)],
      [t('step.last_contact'), file.follow_up.last_contact && formatDate(file.follow_up.last_contact.date, true)],
      [t('step.conferences'), String(file.conferences ?? 0)]])),
    monitoringSection(file.monitoring),
    referralsSection(file),
    approvalsSection(file.approvals || []),
    comments,
    section('case.closure', rows([[t('case.closure_status'), t(`closure.${file.closure.status}`)],
      [t('step.closure_reason'), file.closure.reason && t(`closure_reason.${file.closure.reason}`)]])),
    ...supervisorActions(file, context),
    h('p', {}, h('a', { href: '#/cases' }, t('nav.cases'))));
}
