// The assessment: the survivor's needs (the pathway's service types), safety concerns, the risk level
// and notes. Recording it moves the case on to its plan.
import { t } from '../../i18n.js';
import { field, riskText, RISKS, select } from '../common.js';
import { choices, stepScreen, stepView, textField } from './step.js';

export const SERVICE_TYPES = ['medical', 'psychosocial', 'legal', 'safety', 'shelter', 'livelihood', 'education',
  'other'];

export const assessmentView = stepView((main, context, file) => {
  const needs = choices('needs', t('case.needs'), SERVICE_TYPES.map((s) => [s, t(`service.${s}`)]),
    { type: 'checkbox', value: file.assessment?.needs || [] });
  const concerns = textField('safety_concerns', t('case.safety_concerns'), { rows: 4 });
  const risk = select('risk_level', RISKS.map((r) => [r, riskText(r)]), { value: file.risk_level });
  const notes = textField('notes', t('step.notes'), { rows: 4 });
  const body = () => {
    const assessment = { needs: needs.value(), safety_concerns: concerns.input.value, risk_level: risk.value };
    if (notes.input.value.trim()) assessment.notes = notes.input.value;
    return assessment;
  };
  return stepScreen(main, context, file, { titleKey: 'step.assessment', path: '/assessment',
    submit: t('step.assessment_submit'), body,
    fields: [needs.element, concerns.element, field(t('cases.risk'), risk), notes.element] });
});
