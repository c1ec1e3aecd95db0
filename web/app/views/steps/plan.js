// The case action plan: goals (the need, the action, who is responsible, by when), rows added and
// removed; then its submission for approval (approved at once when the policy needs none).
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { field, select } from '../common.js';
import { SERVICE_TYPES } from './assessment.js';
import { stepScreen, stepView, textField } from './step.js';

function goalRow(goal, number, remove) {
  const need = select('need', SERVICE_TYPES.map((s) => [s, t(`service.${s}`)]), { value: goal.need,
    empty: t('common.choose') });
  const action = textField('action', t('step.goal_action'), { rows: 2, maxlength: 2000, value: goal.action });
  const responsible = textField('responsible', t('step.goal_responsible'), { maxlength: 200, value: goal.responsible });
  const due = textField('due_date', t('step.goal_due'), { type: 'date', value: goal.due_date });
  const legend = h('legend', {});
  const element = h('fieldset', { class: 'goal' }, legend, field(t('step.goal_need'), need), action.element,
    responsible.element, due.element);
  const removeButton = h('button', { type: 'button', onclick: () => remove(row) });
  element.append(removeButton);
  const row = { element,
    renumber: (n) => {
      element.dataset.name = `goals.${n - 1}`;
      legend.textContent = t('step.goal_number', { n });
      removeButton.textContent = t('step.goal_remove', { n });
    },
    value: () => ({ need: need.value, action: action.input.value, responsible: responsible.input.value.trim(),
      due_date: due.input.value }) };
  row.renumber(number);
  return row;
}

export const planView = stepView((main, context, file) => {
  const rows = [];
  const list = h('fieldset', { 'data-name': 'goals' }, h('legend', {}, t('step.goals')));
  const renumber = () => rows.forEach((row, index) => row.renumber(index + 1));
  const remove = (row) => {
    rows.splice(rows.indexOf(row), 1);
    row.element.remove();
    renumber();
    addButton.focus();
  };
  const add = (goal = {}) => {
    const row = goalRow(goal, rows.length + 1, remove);
    rows.push(row);
    list.append(row.element);
    return row;
  };
  const addButton = h('button', { type: 'button', onclick: () => add().element.querySelector('select').focus() },
    t('step.goal_add'));
  (file.plan.goals.length ? file.plan.goals : [{}]).forEach((goal) => add(goal));
  return stepScreen(main, context, file, { titleKey: 'step.plan', path: '/plan', method: 'PUT',
    submit: t('step.plan_submit'), body: () => ({ goals: rows.map((row) => row.value()) }),
    fields: [list, addButton] });
});

export const submitPlanView = stepView((main, context, file) => stepScreen(main, context, file, {
  titleKey: 'step.submit_plan', intro: t('step.submit_plan_intro'), path: '/plan/submit',
  submit: t('step.submit_plan_submit'), body: () => ({}),
  fields: [h('ul', {}, file.plan.goals.map((goal) => h('li', {},
    `${t(`service.${goal.need}`)}: ${goal.action} (${goal.responsible}, ${goal.due_date})`)))] }));
