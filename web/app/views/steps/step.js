// What every step on a case shares: loading the case file (the version the caseworker sees), a screen
// with its one form, and sending the form through sendCommand with that version and ONE Idempotency-Key
// for the form's life (a double submit applies once). A refusal changes nothing and names the fields.
import { api, newKey } from '../../api.js';
import { sendCommand } from '../../commands.js';
import { h, show, uid } from '../../dom.js';
import { t } from '../../i18n.js';
import * as store from '../../store.js';
import { alertBox, field, heading } from '../common.js';

// The case file, from the server or (offline) the copy kept at the last visit: {file, offline}.
export async function loadCase(caseId) {
  try {
    const file = (await api('GET', `/v1/cases/${caseId}`)).body;
    store.save(`case/${caseId}`, file).catch(() => {});
    return { file, offline: false };
  } catch (error) {
    const file = error.code === 'offline' ? await store.load(`case/${caseId}`).catch(() => undefined) : undefined;
    if (!file) throw error;
    return { file, offline: true };
  }
}

export const caseHref = (file) => `#/cases/${file.id}`;

export function checkbox(name, label, checked = false) {
  const input = h('input', { type: 'checkbox', name, id: uid(name), checked });
  return { input, element: h('div', { class: 'check' }, input, h('label', { for: input.id }, label)) };
}

// Radios (or checkboxes) for one choice, in a fieldset with its legend; `value()` reads the choice.
export function choices(name, legend, options, { type = 'radio', value = [] } = {}) {
  const chosen = [].concat(value);
  const inputs = options.map(([optionValue, text]) => {
    const input = h('input', { type, name, value: optionValue, id: uid(name), checked: chosen.includes(optionValue) });
    return { input, element: h('div', { class: 'check' }, input, h('label', { for: input.id }, text)) };
  });
  const picked = () => inputs.filter(({ input }) => input.checked).map(({ input }) => input.value);
  return {
    element: h('fieldset', { 'data-name': name }, h('legend', {}, legend), inputs.map(({ element }) => element)),
    value: () => (type === 'radio' ? picked()[0] ?? null : picked()),
    inputs: inputs.map(({ input }) => input),
  };
}

export function textField(name, label, { rows = 0, required = false, maxlength = 10000, type = 'text', value,
  hint } = {}) {
  const control = rows ? h('textarea', { name, rows, maxlength, required, value })
    : h('input', { name, type, maxlength: type === 'text' ? maxlength : null, required, value, autocomplete: 'off' });
  return { input: control, element: field(label, control, hint) };
}

// The control an error's path names ("goals.1.action": the action of the second goal): the innermost
// group (data-name) the path names, then the control named by the rest.
function controlAt(form, path) {
  const parts = path.split('.');
  const at = (selector, name) => form.querySelector(`[${selector}="${CSS.escape(name)}"]`);
  for (let end = parts.length; end >= 1; end -= 1) {
    const scope = at('data-name', parts.slice(0, end).join('.'));
    const inner = scope && parts[end] ? scope.querySelector(`[name="${CSS.escape(parts[end])}"]`) : null;
    const found = inner || scope || at('name', parts.slice(0, end).join('.'));
    if (found) return found;
  }
  return null;
}

function labelOf(control) {
  if (control.tagName === 'FIELDSET') return control.querySelector('legend')?.textContent;
  const own = control.labels?.[0]?.textContent;
  const group = control.closest('fieldset[data-name]')?.querySelector('legend')?.textContent;
  return own && group ? `${group}: ${own}` : own || group;
}

// The fields a refusal names, by their labels (a control's label, a group's legend); marked invalid.
function namedFields(form, errors) {
  const names = Object.keys(errors || {}).map((path) => {
    const control = controlAt(form, path);
    control?.setAttribute('aria-invalid', 'true');
    return (control && labelOf(control)) || path;
  });
  return Object.fromEntries([...new Set(names)].map((name) => [name, []]));
}

// A step's screen: h1 (`titleKey`, also the command's label), the case's number, the form; `body()`
// builds the command's body. Returns the first control, to focus.
export function stepScreen(main, context, file, { titleKey, intro, path, method = 'POST', submit, body, fields }) {
  const key = newKey();
  const title = t(titleKey);
  const errors = h('div', {});
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  const form = h('form', { class: 'card', 'aria-labelledby': 'page-title', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    show(errors);
    form.querySelectorAll('[aria-invalid]').forEach((control) => control.removeAttribute('aria-invalid'));
    button.disabled = true;
    try {
      const outcome = await sendCommand({ caseId: file.id, path: `/v1/cases/${file.id}${path}`, method, key,
        body: body(), version: file.version, label: titleKey });
      if (outcome.conflict) context.go(`#/conflicts/${outcome.conflict}`);
      else if (outcome.queued) queuedNotice(main, file, title);
      else context.go(caseHref(file));
    } catch (error) {
      errors.append(alertBox({ code: error.code, errors: namedFields(form, error.errors) }));
      errors.firstChild.setAttribute('tabindex', '-1');
      errors.firstChild.focus();
    } finally {
      button.disabled = false;
    }
  } },
  errors, intro ? h('p', {}, intro) : null, fields,
  h('div', { class: 'actions' }, button, h('a', { href: caseHref(file), class: 'button' }, t('common.cancel'))));
  show(main, heading(title), h('p', {}, t('case.heading', { number: file.case_number })), form);
  return form.querySelector('input, select, textarea, button');
}

function queuedNotice(main, file, title) {
  show(main, heading(title), h('p', { class: 'notice', role: 'status' }, t('step.queued')),
    h('p', {}, h('a', { href: caseHref(file) }, t('step.back_to_case'))));
  main.querySelector('#page-title').focus();
}

// A step route's view: loads the case, then lets `build(main, context, file)` draw the step.
export function stepView(build) {
  return async (main, context) => {
    show(main, heading(t('case.title')), h('p', { 'aria-busy': 'true' }, t('common.loading')));
    let loaded;
    try {
      loaded = await loadCase(context.caseId);
    } catch (error) {
      show(main, heading(t('case.title')), alertBox(error),
        h('p', {}, h('a', { href: '#/cases' }, t('nav.cases'))));
      return undefined;
    }
    return build(main, context, loaded.file);
  };
}
