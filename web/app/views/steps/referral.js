// A referral from the pathway: the service needed, then a provider offering it (GET /v1/providers by
// service type), the urgency and notes. The API refuses it (409) unless consent allows services and sharing.
import { every } from '../../api.js';
import { h, show } from '../../dom.js';
import { t } from '../../i18n.js';
import { alertBox, field, select } from '../common.js';
import { SERVICE_TYPES } from './assessment.js';
import { choices, stepScreen, stepView, textField } from './step.js';

async function offerProviders(providerSelect, serviceType, status) {
  show(providerSelect, h('option', { value: '' }, t('common.choose')));
  show(status);
  if (!serviceType) return;
  try {
    const providers = await every('/v1/providers', { service_type: serviceType });
    providerSelect.append(...providers.map((provider) => h('option', { value: provider.id },
      `${provider.name} (${provider.area})`)));
    status.textContent = t('step.providers_found', { n: providers.length });
  } catch (error) {
    show(status, alertBox(error));
  }
}

export const referralView = stepView((main, context, file) => {
  const first = file.assessment?.needs?.[0] || '';
  const service = select('service_type', SERVICE_TYPES.map((s) => [s, t(`service.${s}`)]), { value: first,
    empty: t('common.choose') });
  const provider = select('provider_id', [], { empty: t('common.choose') });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  service.addEventListener('change', () => offerProviders(provider, service.value, status));
  offerProviders(provider, first, status);
  const urgency = choices('urgency', t('step.urgency'), [['routine', t('urgency.routine')],
    ['urgent', t('urgency.urgent')]], { value: 'routine' });
  const notes = textField('notes', t('step.notes'), { rows: 3, maxlength: 5000 });
  const body = () => {
    const referral = { provider_id: provider.value, service_type: service.value, urgency: urgency.value() };
    if (notes.input.value.trim()) referral.notes = notes.input.value;
    return referral;
  };
  return stepScreen(main, context, file, { titleKey: 'step.referral', path: '/referrals',
    submit: t('step.referral_submit'), body,
    fields: [field(t('step.service_type'), service), field(t('step.provider'), provider), status,
      urgency.element, notes.element] });
});
