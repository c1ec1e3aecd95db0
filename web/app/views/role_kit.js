// What the other roles' screens share: a table with its caption and scoped headers, a region that
// loads, a polite status line, and the one Idempotency-Key a form keeps.
import { newKey } from '../api.js';
import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import { alertBox } from './common.js';

// headers: message keys; rows: arrays of cells (the first is the row's header).
export function dataTable(caption, headers, rows) {
  return h('table', { class: 'cases' }, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((key) => h('th', { scope: 'col' }, t(key))))),
    h('tbody', {}, rows.map(([first, ...rest]) => h('tr', {}, h('th', { scope: 'row' }, first),
      rest.map((cell) => h('td', {}, cell))))));
}

export function busy() {
  return h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', {}, t('common.loading')));
}

// Fills `region` with what `render` makes of `load()`'s answer, or with the refusal.
export async function fill(region, load, render) {
  try {
    const answer = await load();
    show(region, ...[render(answer)].flat());
  } catch (error) {
    show(region, alertBox(error));
  }
  region.setAttribute('aria-busy', 'false');
}

export function statusLine(text = '') {
  return h('p', { role: 'status', class: 'status notice' }, text);
}

// A form's Idempotency-Key: the same for every retry, so a double submit applies once. A definite
// refusal (not a lost answer) applied nothing, so the corrected form may take a new key.
export function formKey() {
  let key = newKey();
  return { get: () => key, refused: (error) => { if (error.code !== 'offline') key = newKey(); } };
}

// Runs a form's submission once at a time: errors shown in `errors`, the button disabled meanwhile.
export async function submitting(button, errors, action) {
  show(errors);
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    show(errors, alertBox(error));
  } finally {
    button.disabled = false;
  }
}

// A message kept for the next screen (after a decision, the queue says what was done).
let carried = '';
export function carry(text) {
  carried = text;
}
export function carriedMessage() {
  const text = carried;
  carried = '';
  return text ? statusLine(text) : null;
}
