// The case screens (caseworker, supervisor): routes and the bar's links. Each route: a hash pattern,
// the roles that may open it, and a view `(main, context, match) => element to focus (or nothing)`.
import { caseFileView } from './casefile.js';
import { casesView } from './cases.js';
import { notificationsView } from './notifications.js';
import { registerView } from './register.js';
import { assessmentView } from './steps/assessment.js';
import { closureView, reopenView } from './steps/closure.js';
import { conferenceView } from './steps/conference.js';
import { consentView, withdrawView } from './steps/consent.js';
import { followUpView } from './steps/follow_up.js';
import { planView, submitPlanView } from './steps/plan.js';
import { referralView } from './steps/referral.js';

const CASE_ROLES = ['caseworker', 'supervisor'];
const CASE = '([0-9a-f-]{36})';

// A case's steps: #/cases/<id>/<segment> (the case file links those open at the case's stage).
const STEPS = { consent: consentView, 'withdraw-consent': withdrawView, assessment: assessmentView, plan: planView,
  'submit-plan': submitPlanView, 'follow-up': followUpView, referral: referralView, conference: conferenceView,
  closure: closureView, reopen: reopenView };

export const caseRoutes = [
  { pattern: /^\/cases\/new$/, roles: ['caseworker', 'supervisor'], view: (main, context) => registerView(main, context) },
  { pattern: new RegExp(`^/cases/${CASE}$`), roles: CASE_ROLES,
    view: (main, context, match) => caseFileView(main, { ...context, caseId: match[1] }) },
  { pattern: new RegExp(`^/cases/${CASE}/(${Object.keys(STEPS).join('|')})$`), roles: CASE_ROLES,
    view: (main, context, match) => STEPS[match[2]](main, { ...context, caseId: match[1] }) },
  { pattern: /^\/cases$/, roles: CASE_ROLES, view: (main, context) => casesView(main, context) },
  { pattern: /^\/notifications$/, roles: CASE_ROLES, view: (main, context) => notificationsView(main, context) },
];

export const caseLinks = {
  caseworker: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.register'], ['#/notifications', 'nav.notifications']],
  supervisor: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.register'], ['#/notifications', 'nav.notifications']],
};
