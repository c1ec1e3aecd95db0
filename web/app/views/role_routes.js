// The other roles' screens (supervisor's approvals; provider; auditor; admin): routes and links, as in
// case_routes.js. A role's home is its first link (a supervisor's links come after the case links).
import { newUserView, usersView, userView } from './admin_users.js';
import { organisationsView, policyView, providersView } from './admin_pathway.js';
import { approvalsView, decisionView } from './approvals.js';
import { auditCaseView, findView } from './audit.js';
import { referralsView, referralView } from './referrals_in.js';

const UUID = '([0-9a-f-]{36})';
const only = (role, pattern, view) => ({ pattern, roles: [role], view });

export const roleRoutes = [
  only('supervisor', /^\/approvals$/, approvalsView),
  only('supervisor', new RegExp(`^/approvals/${UUID}$`), decisionView),
  only('provider', /^\/referrals$/, referralsView),
  only('provider', new RegExp(`^/referrals/${UUID}$`), referralView),
  only('auditor', /^\/audit$/, findView),
  only('auditor', new RegExp(`^/audit/${UUID}$`), auditCaseView),
  only('admin', /^\/admin\/users$/, usersView),
  only('admin', /^\/admin\/users\/new$/, newUserView),
  only('admin', /^\/admin\/users\/([^/]+)$/, userView),
  only('admin', /^\/admin\/organisations$/, organisationsView),
  only('admin', /^\/admin\/providers$/, providersView),
  only('admin', /^\/admin\/policy$/, policyView),
];

export const roleLinks = {
  supervisor: [['#/approvals', 'approvals.nav']],
  provider: [['#/referrals', 'referrals.nav']],
  auditor: [['#/audit', 'audit.nav']],
  admin: [['#/admin/users', 'admin.nav_users'], ['#/admin/organisations', 'admin.nav_organisations'],
    ['#/admin/providers', 'admin.nav_providers'], ['#/admin/policy', 'admin.nav_policy']],
};
