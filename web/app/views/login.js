import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import * as session from '../session.js';
import { alertBox, field, heading } from './common.js';

export function loginView(main, { go }) {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none',
    spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t('login.submit'));
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'page-title', onsubmit: async (event) => {
    event.preventDefault();
    show(errors);
    submit.disabled = true;
    try {
      await session.login(username.value.trim(), password.value);
      go('#/cases');
    } catch (error) {
      password.value = '';
      errors.append(error.code === 'unauthenticated' ? h('div', { class: 'alert', role: 'alert' }, t('login.failed'))
        : alertBox(error));
    } finally {
      submit.disabled = false;
    }
  } }, heading(t('login.title')), h('p', {}, t('login.intro')), errors,
  field(t('login.username'), username), field(t('login.password'), password), submit);
  show(main, form);
  return username;
}
