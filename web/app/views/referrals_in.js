// A provider's incoming referrals: those waiting for an answer first, then those accepted, then the
// rest; each opens on its own screen to accept it, decline it with a reason, or complete it with its
// outcome. A provider sees only what the survivor consented to share (the API decides).
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { alertBox, field, heading } from './common.js';
import { busy, carriedMessage, carry, dataTable, fill, formKey, submitting } from './role_kit.js';

const ORDER = ['requested', 'accepted', 'completed', 'declined', 'withdrawn'];

function byUrgency(first, second) {
  return ORDER.indexOf(first.status) - ORDER.indexOf(second.status)
    || (first.urgency === 'urgent' ? 0 : 1) - (second.urgency === 'urgent' ? 0 : 1)
    || first.created_at.localeCompare(second.created_at);
}

function referralRow(referral) {
  return [h('a', { href: `#/referrals/${referral.id}` }, referral.case_number), t(`service.${referral.service_type}`),
    referral.urgency === 'urgent' ? h('strong', { class: 'tag danger' }, t('referral_urgency.urgent'))
      : t('referral_urgency.routine'),
    t(`referral_status.${referral.status}`), formatDate(referral.created_at, true)];
}

export async function referralsView(main) {
  const results = busy();
  show(main, heading(t('referrals.title')), carriedMessage(), results);
  await fill(results, () => every('/v1/referrals'), (referrals) => (referrals.length
    ? dataTable(t('referrals.count', { n: referrals.length }), ['cases.number', 'referrals.service',
      'referrals.urgency', 'referrals.status', 'referrals.received'], referrals.sort(byUrgency).map(referralRow))
    : h('p', {}, t('referrals.none'))));
}

function facts(referral) {
  const pairs = [['cases.number', referral.case_number], ['referrals.service', t(`service.${referral.service_type}`)],
    ['referrals.urgency', t(`referral_urgency.${referral.urgency}`)],
    ['referrals.status', t(`referral_status.${referral.status}`)],
    ['referrals.received', formatDate(referral.created_at, true)], ['referrals.made_by', referral.made_by],
    ['referrals.notes', referral.notes], ['referrals.reason', referral.reason], ['referrals.outcome', referral.outcome]];
  return h('dl', { class: 'facts' }, pairs.filter(([, value]) => value)
    .map(([key, value]) => [h('dt', {}, t(key)), h('dd', {}, value)]));
}

// One answer to the referral: `text` names the field it needs (reason, outcome), if any.
function answerForm(referral, go, action, text) {
  const key = formKey();
  const input = text ? h('textarea', { name: text, rows: 3, maxlength: 5000, required: true }) : null;
  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: action === 'decline' ? null : 'primary' },
    t(`referrals.${action}`));
  const id = `referral-${action}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, t(`referrals.${action}_title`)),
    h('form', { onsubmit: (event) => {
      event.preventDefault();
      submitting(submit, errors, async () => {
        try {
          await api('POST', `/v1/referrals/${referral.id}/${action}`,
            { body: text ? { [text]: input.value } : {}, idempotencyKey: key.get() });
        } catch (error) {
          key.refused(error);
          throw error;
        }
        carry(t(`referrals.done_${action}`, { number: referral.case_number }));
        go('#/referrals');
      });
    } }, errors, input ? field(t(`referrals.${text}`), input) : null, submit));
}

export async function referralView(main, { go }, match) {
  show(main, heading(t('referrals.one_title')), busy());
  let referral;
  try {
    referral = (await every('/v1/referrals')).find((item) => item.id === match[1]);
  } catch (error) {
    show(main, heading(t('referrals.one_title')), alertBox(error));
    return;
  }
  if (!referral) {
    show(main, heading(t('referrals.one_title')), alertBox({ code: 'not_found' }));
    return;
  }
  const answers = referral.status === 'requested'
    ? [answerForm(referral, go, 'accept'), answerForm(referral, go, 'decline', 'reason')]
    : referral.status === 'accepted' ? [answerForm(referral, go, 'complete', 'outcome')] : [];
  show(main, heading(t('referrals.heading', { number: referral.case_number })), facts(referral),
    ...answers, h('p', {}, h('a', { href: '#/referrals' }, t('referrals.nav'))));
}
