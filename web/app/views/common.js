// What several screens use: headings that take focus, field builders with labels, and errors.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';

export const STAGES = ['engagement', 'assessment', 'case_plan', 'implementation', 'follow_up', 'closed'];
export const RISKS = ['low', 'medium', 'high'];

export function heading(text) {
  return h('h1', { tabindex: '-1', id: 'page-title' }, text);
}

// A labelled control; `control` gets the id the label points at.
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
}

export function select(name, options, { value = '', empty = null, required = false } = {}) {
  return h('select', { name, required },
    empty === null ? null : h('option', { value: '' }, empty),
    options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value }, text)));
}

// What went wrong, for people: by the problem's stable code, never its detail.
export function problemText(error) {
  if (error.code === 'offline') return t('error.offline');
  const known = `error.${error.code}`;
  const text = t(known);
  return text === known ? t('error.unknown') : text;
}

export function alertBox(error) {
  const box = h('div', { class: 'alert', role: 'alert' }, problemText(error));
  const fields = Object.keys(error.errors || {});
  if (fields.length) box.append(h('p', {}, t('error.fields', { fields: fields.join(', ') })));
  return box;
}

export function stageText(stage) {
  return t(`stage.${stage}`);
}

export function riskText(risk) {
  return t(`risk.${risk}`);
}

// A history event's name for people ('Case registered'), or its technical name when it has none.
export function eventText(type) {
  const key = `event.${type}`;
  const name = t(key);
  return name === key ? type : name;
}
