// The offline screens (the queue of commands not sent yet, a conflict to reconcile, signing out with
// changes waiting): routes and links, as in case_routes.js.
import { conflictView } from './conflict.js';
import { logoutView } from './logout.js';
import { queueView } from './queue.js';

const CASE_ROLES = ['caseworker', 'supervisor'];

export const offlineRoutes = [
  { pattern: /^\/queue$/, roles: CASE_ROLES, view: (main, context) => queueView(main, context) },
  { pattern: /^\/conflicts\/([0-9a-z]+)$/, roles: CASE_ROLES,
    view: (main, context, match) => conflictView(main, context, match[1]) },
  { pattern: /^\/logout$/, roles: CASE_ROLES, view: (main, context) => logoutView(main, context) },
];

export const offlineLinks = {
  caseworker: [['#/queue', 'nav.queue']],
  supervisor: [['#/queue', 'nav.queue']],
};
