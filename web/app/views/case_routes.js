// The case screens (caseworker, supervisor): routes and the bar's links. Each route: a hash pattern,
// the roles that may open it, and a view `(main, context, match) => element to focus (or nothing)`.
import { caseFileView } from './casefile.js';
import { casesView } from './cases.js';
import { registerView } from './register.js';

const CASE_ROLES = ['caseworker', 'supervisor'];

export const caseRoutes = [
  { pattern: /^\/cases\/new$/, roles: ['caseworker', 'supervisor'], view: (main, context) => registerView(main, context) },
  { pattern: /^\/cases\/([0-9a-f-]{36})$/, roles: CASE_ROLES,
    view: (main, context, match) => caseFileView(main, { ...context, caseId: match[1] }) },
  { pattern: /^\/cases$/, roles: CASE_ROLES, view: (main, context) => casesView(main, context) },
];

export const caseLinks = {
  caseworker: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.register']],
  supervisor: [['#/cases', 'nav.cases'], ['#/cases/new', 'nav.register']],
};
