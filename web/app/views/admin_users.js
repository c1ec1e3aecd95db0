// An admin's users: a page at a time (role and active filters and the page's cursor in the address),
// a new user (role, organisation, supervisor, and a provider for a provider's focal point), and one
// user's account: deactivate or reactivate, a temporary password, unlock after failed logins.
import { api, every } from '../api.js';
import { h, show } from '../dom.js';
import { t } from '../i18n.js';
import { alertBox, field, heading, select } from './common.js';
import { busy, carriedMessage, carry, dataTable, fill, formKey, statusLine, submitting } from './role_kit.js';

const ROLES = ['caseworker', 'supervisor', 'provider', 'auditor', 'admin'];
const PAGE = 50;

function filtersForm(go, filters) {
  const role = select('role', ROLES.map((r) => [r, t(`role.${r}`)]), { value: filters.role, empty: t('cases.any') });
  const active = select('active', [['true', t('admin.active')], ['false', t('admin.inactive')]],
    { value: filters.active, empty: t('cases.any') });
  return h('form', { class: 'filters', role: 'search', 'aria-label': t('admin.users_filter'), onsubmit: (event) => {
    event.preventDefault();
    go(`#/admin/users?${new URLSearchParams({ role: role.value, active: active.value })}`);
  } }, field(t('admin.role'), role), field(t('admin.status'), active), h('button', { type: 'submit' }, t('cases.apply')));
}

function usersPage(page, filters) {
  const rows = page.items.map((user) => [h('a', { href: `#/admin/users/${encodeURIComponent(user.username)}` },
    user.username), user.display_name, t(`role.${user.role}`), user.supervisor || '',
  user.active ? t('admin.active') : t('admin.inactive')]);
  const next = page.next_cursor ? h('p', {}, h('a', { href: `#/admin/users?${new URLSearchParams({ ...filters,
    cursor: page.next_cursor })}` }, t('admin.next_page'))) : null;
  return [rows.length ? dataTable(t('admin.users_count', { n: rows.length }), ['admin.username', 'admin.display_name',
    'admin.role', 'admin.supervisor', 'admin.status'], rows) : h('p', {}, t('admin.no_users')), next];
}

export async function usersView(main, { go, params }) {
  const filters = { role: params.get('role') || '', active: params.get('active') || '' };
  const results = busy();
  show(main, heading(t('admin.users_title')), carriedMessage(),
    h('p', {}, h('a', { href: '#/admin/users/new', class: 'button primary' }, t('admin.new_user'))),
    filtersForm(go, filters), results);
  await fill(results, async () => (await api('GET', '/v1/users', { params: { ...filters, limit: PAGE,
    cursor: params.get('cursor') } })).body, (page) => usersPage(page, filters));
}

function newUserBody(controls) {
  const body = {};
  for (const [name, control] of Object.entries(controls)) {
    const value = control.value.trim();
    if (value) body[name] = name === 'password' ? control.value : value;
  }
  return body;
}

export async function newUserView(main, { go }) {
  show(main, heading(t('admin.new_user')), busy());
  let organisations;
  let providers;
  try {
    [organisations, providers] = await Promise.all([every('/v1/organisations'), every('/v1/providers')]);
  } catch (error) {
    show(main, heading(t('admin.new_user')), alertBox(error));
    return undefined;
  }
  const controls = {
    username: h('input', { name: 'username', required: true, autocomplete: 'off', autocapitalize: 'none' }),
    display_name: h('input', { name: 'display_name', required: true, maxlength: 200, autocomplete: 'off' }),
    password: h('input', { name: 'password', type: 'password', required: true, minlength: 12,
      autocomplete: 'new-password' }),
    role: select('role', ROLES.map((r) => [r, t(`role.${r}`)]), { empty: t('common.choose'), required: true }),
    organisation: select('organisation', organisations.map((o) => [o.id, o.name]), { value: organisations[0]?.id }),
    supervisor: h('input', { name: 'supervisor', autocomplete: 'off', autocapitalize: 'none' }),
    provider_id: select('provider_id', providers.map((p) => [p.id, p.name]), { empty: t('common.none') }),
    email: h('input', { name: 'email', type: 'email', autocomplete: 'off' }),
  };
  const providerField = field(t('admin.provider'), controls.provider_id, t('admin.provider_hint'));
  providerField.hidden = true;
  controls.role.addEventListener('change', () => { providerField.hidden = controls.role.value !== 'provider'; });
  const key = formKey();
  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t('admin.create_user'));
  show(main, h('form', { class: 'card', 'aria-labelledby': 'page-title', onsubmit: (event) => {
    event.preventDefault();
    submitting(submit, errors, async () => {
      try {
        await api('POST', '/v1/users', { body: newUserBody(controls), idempotencyKey: key.get() });
      } catch (error) {
        key.refused(error);
        throw error;
      }
      carry(t('admin.user_created', { username: controls.username.value.trim() }));
      go('#/admin/users');
    });
  } }, heading(t('admin.new_user')), errors,
  field(t('admin.username'), controls.username), field(t('admin.display_name'), controls.display_name),
  field(t('admin.password'), controls.password, t('admin.password_hint')), field(t('admin.role'), controls.role),
  field(t('admin.organisation'), controls.organisation), field(t('admin.supervisor'), controls.supervisor,
    t('admin.supervisor_hint')), providerField, field(t('admin.email'), controls.email),
  h('div', { class: 'actions' }, submit, h('a', { href: '#/admin/users', class: 'button' }, t('common.cancel')))));
  return controls.username;
}

// An account action (POST with no body); `shown` turns its answer into what the admin reads.
function accountAction(username, action, shown) {
  const key = formKey();
  const errors = h('div', {});
  const button = h('button', { type: 'button' }, t(`admin.${action.replace('-', '_')}`));
  button.addEventListener('click', () => submitting(button, errors, async () => {
    let answer;
    try {
      answer = (await api('POST', `/v1/users/${encodeURIComponent(username)}/${action}`,
        { idempotencyKey: key.get() })).body;
    } catch (error) {
      key.refused(error);
      throw error;
    }
    shown(answer);
  }));
  return h('div', { class: 'field' }, button, errors);
}

export async function userView(main, { go }, match) {
  const username = decodeURIComponent(match[1]);
  show(main, heading(username), busy());
  let user;
  try {
    user = (await api('GET', `/v1/users/${encodeURIComponent(username)}`)).body;
  } catch (error) {
    show(main, heading(username), alertBox(error));
    return;
  }
  const status = statusLine();
  const again = () => go(`#/admin/users/${encodeURIComponent(username)}`);
  const pairs = [['admin.display_name', user.display_name], ['admin.role', t(`role.${user.role}`)],
    ['admin.supervisor', user.supervisor], ['admin.email', user.email],
    ['admin.status', user.active ? t('admin.active') : t('admin.inactive')]];
  show(main, heading(t('admin.user_heading', { username })), status,
    h('dl', { class: 'facts' }, pairs.filter(([, value]) => value).map(([key, value]) => [h('dt', {}, t(key)),
      h('dd', {}, value)])),
    h('section', { 'aria-labelledby': 'admin-account' }, h('h2', { id: 'admin-account' }, t('admin.account')),
      accountAction(username, user.active ? 'deactivate' : 'reactivate', again),
      accountAction(username, 'password-reset', (answer) => {
        status.textContent = t('admin.temporary_password', { password: answer.temporary_password });
      }),
      accountAction(username, 'unlock', () => { status.textContent = t('admin.unlocked'); })),
    h('p', {}, h('a', { href: '#/admin/users' }, t('admin.nav_users'))));
}
