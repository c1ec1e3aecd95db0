// An admin's organisations (the agencies), the referral pathway's providers, and each organisation's
// approval policy: when a plan or a closure needs a supervisor's approval (always, high risk only,
// never).
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import { alertBox, field, heading, select } from './common.js';
import { busy, carriedMessage, carry, dataTable, fill, formKey, statusLine, submitting } from './role_kit.js';

const SERVICES = ['medical', 'psychosocial', 'legal', 'safety', 'shelter', 'livelihood', 'education', 'other'];
const RULES = ['always', 'high_risk', 'never'];

// A creation form: POST `path` with what `body()` reads, then `done` (the list again, with a message).
function createForm(path, body, done, submitKey, ...fields) {
  const key = formKey();
  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t(submitKey));
  return h('form', { onsubmit: (event) => {
    event.preventDefault();
    submitting(submit, errors, async () => {
      let created;
      try {
        created = (await api('POST', path, { body: body(), idempotencyKey: key.get() })).body;
      } catch (error) {
        key.refused(error);
        throw error;
      }
      done(created);
    });
  } }, errors, ...fields, submit);
}

function section(id, title, ...content) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

export async function organisationsView(main, { go }) {
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const results = busy();
  show(main, heading(t('admin.organisations_title')), carriedMessage(), results,
    section('admin-new-organisation', t('admin.new_organisation'), createForm('/v1/organisations',
      () => ({ name: name.value.trim() }), (created) => {
        carry(t('admin.organisation_created', { name: created.name }));
        go('#/admin/organisations');
      }, 'admin.create_organisation', field(t('admin.organisation_name'), name))));
  await fill(results, () => every('/v1/organisations'), (organisations) => dataTable(
    t('admin.organisations_count', { n: organisations.length }), ['admin.organisation_name', 'admin.policy'],
    organisations.map((o) => [o.name, h('a', { href: `#/admin/policy?organisation=${o.id}` },
      t('admin.policy_of', { name: o.name }))])));
}

function servicesFieldset() {
  const boxes = SERVICES.map((service) => h('input', { type: 'checkbox', name: 'service_types', value: service,
    id: `service-${service}` }));
  const fieldset = h('fieldset', {}, h('legend', {}, t('admin.service_types')),
    boxes.map((box) => h('div', { class: 'check' }, box, h('label', { for: box.id }, t(`service.${box.value}`)))));
  return { fieldset, chosen: () => boxes.filter((box) => box.checked).map((box) => box.value) };
}

export async function providersView(main, { go }) {
  const input = (name) => h('input', { name, required: true, maxlength: name === 'contact' ? 500 : 200,
    autocomplete: 'off' });
  const [name, area, contact] = ['name', 'area', 'contact'].map(input);
  const services = servicesFieldset();
  const results = busy();
  show(main, heading(t('admin.providers_title')), carriedMessage(), results,
    section('admin-new-provider', t('admin.new_provider'), createForm('/v1/providers', () => ({
      name: name.value.trim(), service_types: services.chosen(), area: area.value.trim(),
      contact: contact.value.trim() }), (created) => {
      carry(t('admin.provider_created', { name: created.name }));
      go('#/admin/providers');
    }, 'admin.create_provider', field(t('admin.provider_name'), name), services.fieldset,
    field(t('admin.area'), area), field(t('admin.contact'), contact))));
  await fill(results, () => every('/v1/providers'), (providers) => (providers.length ? dataTable(
    t('admin.providers_count', { n: providers.length }), ['admin.provider_name', 'admin.service_types', 'admin.area',
      'admin.contact'], providers.map((p) => [p.name, p.service_types.map((s) => t(`service.${s}`)).join(', '),
      p.area, p.contact])) : h('p', {}, t('admin.no_providers'))));
}

function ruleFieldset(kind, current) {
  const radios = RULES.map((rule) => h('input', { type: 'radio', name: kind, value: rule, id: `${kind}-${rule}`,
    checked: rule === current }));
  return { fieldset: h('fieldset', {}, h('legend', {}, t(`admin.policy_${kind}`)), radios.map((radio) =>
    h('div', { class: 'check' }, radio, h('label', { for: radio.id }, t(`approval_rule.${radio.value}`))))),
  value: () => radios.find((radio) => radio.checked)?.value };
}

function policyForm(organisation, policy) {
  const plan = ruleFieldset('case_plan', policy.case_plan);
  const closure = ruleFieldset('closure', policy.closure);
  const errors = h('div', {});
  const status = statusLine();
  const submit = h('button', { type: 'submit', class: 'primary' }, t('admin.save_policy'));
  return h('form', { onsubmit: (event) => {
    event.preventDefault();
    submitting(submit, errors, async () => {
      status.textContent = '';
      await api('PUT', `/v1/organisations/${organisation.id}/approval-policy`,
        { body: { case_plan: plan.value(), closure: closure.value() } });
      status.textContent = t('admin.policy_saved', { name: organisation.name });
    });
  } }, errors, status, plan.fieldset, closure.fieldset, submit);
}

export async function policyView(main, { go, params }) {
  show(main, heading(t('admin.policy_title')), busy());
  let organisations;
  try {
    organisations = await every('/v1/organisations');
  } catch (error) {
    show(main, heading(t('admin.policy_title')), alertBox(error));
    return;
  }
  const organisation = organisations.find((o) => o.id === params.get('organisation')) || organisations[0];
  const chooser = select('organisation', organisations.map((o) => [o.id, o.name]), { value: organisation.id });
  const policy = busy();
  show(main, heading(t('admin.policy_title')), h('p', {}, t('admin.policy_intro')),
    h('form', { class: 'filters', 'aria-label': t('admin.choose_organisation'), onsubmit: (event) => {
      event.preventDefault();
      go(`#/admin/policy?organisation=${chooser.value}`);
    } }, field(t('admin.organisation'), chooser), h('button', { type: 'submit' }, t('cases.apply'))),
    section('admin-policy', t('admin.policy_of', { name: organisation.name }), policy));
  await fill(policy, async () => (await api('GET', `/v1/organisations/${organisation.id}/approval-policy`)).body,
    (current) => policyForm(organisation, current));
}
