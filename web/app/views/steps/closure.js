// Closing a case (one of the four reasons, with notes; approved by a supervisor or at once, per the
// policy), and reopening a closed one (with the reason).
import { t } from '../../i18n.js';
import { choices, stepScreen, stepView, textField } from './step.js';

export const CLOSURE_REASONS = ['needs_met', 'survivor_request', 'relocated', 'unreachable'];

export const closureView = stepView((main, context, file) => {
  const reason = choices('reason', t('step.closure_reason'), CLOSURE_REASONS.map((r) => [r, t(`closure_reason.${r}`)]));
  const notes = textField('notes', t('step.notes'), { rows: 4 });
  return stepScreen(main, context, file, { titleKey: 'step.closure', path: '/closure', submit: t('step.closure_submit'),
    body: () => ({ reason: reason.value() ?? '', notes: notes.input.value }), fields: [reason.element, notes.element] });
});

export const reopenView = stepView((main, context, file) => {
  const reason = textField('reason', t('step.reopen_reason'), { rows: 3, maxlength: 5000 });
  return stepScreen(main, context, file, { titleKey: 'step.reopen', path: '/reopen', submit: t('step.reopen_submit'),
    body: () => ({ reason: reason.input.value }), fields: [reason.element] });
});
