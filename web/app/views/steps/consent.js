// Consent: to services, to sharing with providers, that mandatory reporting was explained, and who gave
// it. For a child: the child's age and assent, and when a caregiver consents without the child's assent,
// the best-interests note the API then requires. Withdrawal: a survivor may always withdraw.
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { checkbox, choices, stepScreen, stepView, textField } from './step.js';

function childFields(consent) {
  const age = textField('child_age', t('step.child_age'), { type: 'number', value: consent?.child_age });
  age.input.setAttribute('min', '0');
  age.input.setAttribute('max', '17');
  const assent = checkbox('child_assent', t('step.child_assent'), consent?.child_assent);
  const note = textField('best_interests_note', t('step.best_interests_note'), { rows: 3, maxlength: 5000,
    value: consent?.best_interests_note, hint: t('step.best_interests_hint') });
  return { age, assent, note,
    element: h('fieldset', {}, h('legend', {}, t('step.child')), age.element, assent.element, note.element) };
}

export const consentView = stepView((main, context, file) => {
  const consent = file.consent && !file.consent.withdrawn ? file.consent : null;
  const services = checkbox('services', t('case.consent_services'), consent?.services);
  const share = checkbox('share_with_providers', t('case.consent_share'), consent?.share_with_providers);
  const explained = checkbox('mandatory_reporting_explained', t('step.reporting_explained'),
    consent?.mandatory_reporting_explained);
  const givenBy = choices('given_by', t('step.given_by'), [['survivor', t('given_by.survivor')],
    ['caregiver', t('given_by.caregiver')]], { value: consent?.given_by || (file.is_child ? 'caregiver' : 'survivor') });
  const child = file.is_child ? childFields(consent) : null;
  const body = () => {
    const terms = { services: services.input.checked, share_with_providers: share.input.checked,
      mandatory_reporting_explained: explained.input.checked, given_by: givenBy.value() };
    if (child) {
      terms.child_assent = child.assent.input.checked;
      if (child.age.input.value !== '') terms.child_age = Number(child.age.input.value);
      if (child.note.input.value.trim()) terms.best_interests_note = child.note.input.value.trim();
    }
    return terms;
  };
  return stepScreen(main, context, file, { titleKey: 'step.consent', path: '/consent', submit: t('step.consent_submit'),
    body, fields: [h('fieldset', { 'data-name': 'terms' }, h('legend', {}, t('step.consent_terms')),
      services.element, share.element, explained.element), givenBy.element, child?.element] });
});

export const withdrawView = stepView((main, context, file) => stepScreen(main, context, file, {
  titleKey: 'step.withdraw', intro: t('step.withdraw_intro'), path: '/consent/withdraw',
  submit: t('step.withdraw_submit'), body: () => ({}), fields: [] }));
