// Register a case: the survivor, the risk, and for a child the caregiver (or why the child is
// unaccompanied). One Idempotency-Key per form, so a retried or doubled submission registers once.
import { api, newKey } from '../api.js';
import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import { alertBox, field, heading, riskText, RISKS, select } from './common.js';

const SEXES = ['female', 'male', 'other', 'unknown'];

export function registerView(main, { go }) {
  const key = newKey();
  const input = (name, attributes = {}) => h('input', { name, ...attributes });
  const name = input('name', { required: true, maxlength: 200, autocomplete: 'off' });
  const sex = select('sex', SEXES.map((s) => [s, t(`sex.${s}`)]), { empty: t('common.not_given') });
  const birth = input('date_of_birth', { type: 'date' });
  const phone = input('phone', { type: 'tel', maxlength: 40, autocomplete: 'off' });
  const location = input('location', { maxlength: 200, autocomplete: 'off' });
  const risk = select('risk_level', RISKS.map((r) => [r, riskText(r)]), { empty: t('common.choose'), required: true });
  const notes = h('textarea', { name: 'intake_notes', rows: 4, maxlength: 10000 });
  const isChild = input('is_child', { type: 'checkbox' });
  const caregiverName = input('caregiver_name', { maxlength: 200, autocomplete: 'off' });
  const relationship = input('caregiver_relationship', { maxlength: 100, autocomplete: 'off' });
  const caregiverPhone = input('caregiver_phone', { type: 'tel', maxlength: 40, autocomplete: 'off' });
  const unaccompanied = input('unaccompanied', { type: 'checkbox' });
  const reason = h('textarea', { name: 'unaccompanied_reason', rows: 2, maxlength: 2000 });
  const child = h('fieldset', { hidden: true }, h('legend', {}, t('register.child')),
    field(t('register.caregiver_name'), caregiverName), field(t('register.relationship'), relationship),
    field(t('register.caregiver_phone'), caregiverPhone),
    h('div', { class: 'check' }, unaccompanied, h('label', { for: 'unaccompanied' }, t('register.unaccompanied'))),
    field(t('register.unaccompanied_reason'), reason));
  unaccompanied.id = 'unaccompanied';
  isChild.id = 'is-child';
  isChild.addEventListener('change', () => { child.hidden = !isChild.checked; });

  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t('register.submit'));
  const body = () => {
    const survivor = { name: name.value.trim() };
    for (const [control, fieldName] of [[sex, 'sex'], [birth, 'date_of_birth'], [phone, 'phone'],
      [location, 'location']]) if (control.value.trim()) survivor[fieldName] = control.value.trim();
    const registration = { survivor, risk_level: risk.value, is_child: isChild.checked };
    if (notes.value.trim()) registration.intake_notes = notes.value;
    if (isChild.checked && unaccompanied.checked) {
      registration.unaccompanied = true;
      registration.unaccompanied_reason = reason.value;
    } else if (isChild.checked) {
      registration.caregiver = { name: caregiverName.value.trim(), relationship: relationship.value.trim() };
      if (caregiverPhone.value.trim()) registration.caregiver.phone = caregiverPhone.value.trim();
    }
    return registration;
  };
  const form = h('form', { class: 'card', 'aria-labelledby': 'page-title', onsubmit: async (event) => {
    event.preventDefault();
    show(errors);
    submit.disabled = true;
    try {
      const created = await api('POST', '/v1/cases', { body: body(), idempotencyKey: key });
      go(`#/cases/${created.body.id}`);
    } catch (error) {
      errors.append(alertBox(error));
      errors.querySelector('[role=alert]')?.focus?.();
    } finally {
      submit.disabled = false;
    }
  } },
  heading(t('register.title')), errors,
  h('fieldset', {}, h('legend', {}, t('register.survivor')), field(t('register.name'), name), field(t('register.sex'), sex),
    field(t('register.date_of_birth'), birth), field(t('register.phone'), phone),
    field(t('register.location'), location)),
  field(t('register.risk'), risk),
  h('div', { class: 'check' }, isChild, h('label', { for: 'is-child' }, t('register.is_child'))),
  child,
  field(t('register.intake_notes'), notes),
  h('div', { class: 'actions' }, submit, h('a', { href: '#/cases', class: 'button' }, t('common.cancel'))));
  show(main, form);
  return name;
}
