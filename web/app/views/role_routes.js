// The other roles' screens (supervisor's approvals; provider; auditor; admin): routes and links, as in
// case_routes.js.
export const roleRoutes = [];

export const roleLinks = {};
