// A follow-up: the contact (whether reached, when, how, with whom), the safety reassessment, and the
// monitoring by domain: each of the six domains rated green, orange or red. The case file then shows the
// ratings and what is still to discuss. Ratings may raise the risk level; lowering it is refused (422).
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { field, riskText, RISKS, select } from '../common.js';
import { checkbox, choices, stepScreen, stepView, textField } from './step.js';

export const DOMAINS = ['safety_protection', 'health_development', 'psychosocial_mental_health',
  'family_relationships', 'education', 'livelihood_basic_needs'];
export const RATINGS = ['green', 'orange', 'red'];
const MODES = ['in_person', 'phone', 'video', 'message'];
const SPOKEN_TO = ['survivor', 'caregiver', 'child'];

// Now, as a datetime-local control shows it (the device's time zone).
function localNow() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function ratingsFields() {
  const domains = DOMAINS.map((domain) => ({ domain, choice: choices(`domain_ratings.${domain}`, t(`domain.${domain}`),
    [['', t('rating.none')], ...RATINGS.map((r) => [r, t(`rating.${r}`)])], { value: '' }) }));
  return {
    element: h('fieldset', { 'data-name': 'domain_ratings', class: 'ratings' }, h('legend', {}, t('step.ratings')),
      domains.map(({ choice }) => choice.element)),
    value: () => Object.fromEntries(domains.map(({ domain, choice }) => [domain, choice.value()])
      .filter(([, rating]) => rating)),
  };
}

export const followUpView = stepView((main, context, file) => {
  const contacted = checkbox('contacted', t('step.contacted'), true);
  const shownNow = localNow();
  const date = textField('contact_date', t('step.contact_date'), { type: 'datetime-local', value: shownNow });
  const mode = select('mode', MODES.map((m) => [m, t(`mode.${m}`)]), { empty: t('common.not_given') });
  const spokenTo = choices('spoken_to', t('step.spoken_to'), SPOKEN_TO.map((s) => [s, t(`spoken_to.${s}`)]),
    { type: 'checkbox' });
  const reassessed = checkbox('safety_reassessed', t('step.safety_reassessed'), true);
  const ratings = ratingsFields();
  const raise = select('raise_risk_to', RISKS.map((r) => [r, riskText(r)]), { empty: t('step.no_raise') });
  const raiseReason = textField('raise_reason', t('step.raise_reason'), { rows: 2, maxlength: 2000 });
  const notes = textField('notes', t('step.notes'), { rows: 4 });
  const body = () => {
    // Left at the minute it showed: now, to the second (a contact minutes after registration is not before it).
    const when = date.input.value === shownNow ? new Date() : date.input.value ? new Date(date.input.value) : null;
    const followUp = { contacted: contacted.input.checked, safety_reassessed: reassessed.input.checked,
      contact_date: when && !Number.isNaN(when.getTime()) ? when.toISOString() : '' };
    const rated = ratings.value();
    if (Object.keys(rated).length) followUp.domain_ratings = rated;
    if (mode.value) followUp.mode = mode.value;
    if (spokenTo.value().length) followUp.spoken_to = spokenTo.value();
    if (raise.value) Object.assign(followUp, { raise_risk_to: raise.value, raise_reason: raiseReason.input.value });
    if (notes.input.value.trim()) followUp.notes = notes.input.value;
    return followUp;
  };
  return stepScreen(main, context, file, { titleKey: 'step.follow_up', path: '/follow-ups',
    submit: t('step.follow_up_submit'), body,
    fields: [contacted.element, date.element, field(t('step.mode'), mode), spokenTo.element, reassessed.element,
      toDiscuss(file), ratings.element, field(t('step.raise_risk_to'), raise), raiseReason.element, notes.element] });
});

// What the last follow-ups left to discuss, shown before the ratings are given again.
export function toDiscuss(file) {
  const domains = file.monitoring?.to_discuss || [];
  if (!domains.length) return null;
  return h('div', { class: 'notice' }, h('p', {}, t('step.to_discuss')),
    h('ul', {}, domains.map((domain) => h('li', {}, t(`domain.${domain}`)))));
}
