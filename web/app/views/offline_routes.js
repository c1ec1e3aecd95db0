// The offline screens (the queue of commands not sent yet, a conflict to reconcile): routes and links,
// as in case_routes.js.
export const offlineRoutes = [];

export const offlineLinks = {};
