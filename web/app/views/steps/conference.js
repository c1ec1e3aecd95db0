// A case conference: when it was held, who took part (one a line), what was decided, and the next steps.
import { t } from '../../i18n.js';
import { stepScreen, stepView, textField } from './step.js';

export const conferenceView = stepView((main, context, file) => {
  const heldOn = textField('held_on', t('step.held_on'), { type: 'date',
    value: new Date().toISOString().slice(0, 10) });
  const participants = textField('participants', t('step.participants'), { rows: 3,
    hint: t('step.participants_hint') });
  const decisions = textField('decisions', t('step.decisions'), { rows: 4 });
  const nextSteps = textField('next_steps', t('step.next_steps'), { rows: 3 });
  const body = () => {
    const conference = { held_on: heldOn.input.value, decisions: decisions.input.value,
      participants: participants.input.value.split('\n').map((name) => name.trim()).filter(Boolean) };
    if (nextSteps.input.value.trim()) conference.next_steps = nextSteps.input.value;
    return conference;
  };
  return stepScreen(main, context, file, { titleKey: 'step.conference', path: '/conferences',
    submit: t('step.conference_submit'), body,
    fields: [heldOn.element, participants.element, decisions.element, nextSteps.element] });
});
