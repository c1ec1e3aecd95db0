// A supervisor's actions on a case file (reassign, erase): rendered by the case file for supervisors.
// Returns the elements to show (none for other roles).
export function supervisorActions(file, context) { // eslint-disable-line no-unused-vars
  return [];
}
