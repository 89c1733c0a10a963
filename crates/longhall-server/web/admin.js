// The administration pages: users, groups, categories, add-ins, policies, configuration,
// compliance processing, the compliance record and the audit log. Each page is a table of what the API lists
// and forms for what it changes; every refusal shows the server's sentence.

import { h, fill, toast, formatTime } from './dom.js';

const SECTIONS = [
  ['users', 'Users'], ['groups', 'Groups'], ['categories', 'Categories'], ['addins', 'Add-ins'],
  ['policies', 'Policies'], ['config', 'Configuration'], ['compliance', 'Compliance'], ['events', 'Compliance record'],
  ['audit', 'Audit log'],
];

export function renderAdmin(app, main, section) {
  const body = h('div', { class: 'admin-body' });
  fill(main, h('section', { class: 'page admin' },
    h('h1', {}, 'Administration'),
    h('nav', { class: 'tabs', 'aria-label': 'Administration pages' }, SECTIONS.map(([key, label]) =>
      h('a', { href: `#/admin/${key}`, class: key === section ? 'current' : '', 'aria-current': key === section ? 'page' : false }, label))),
    body));
  if (!app.me.user.admin) {
    fill(body, h('p', { class: 'form-error', role: 'alert' }, 'Only administrators may see these pages.'));
    return;
  }
  const page = { users, groups, categories, addins, policies, config, compliance, events, audit }[section] || users;
  page(app, body).catch((err) => fill(body, h('p', { class: 'form-error', role: 'alert' }, err.message)));
}

/** A table of objects: columns are [heading, value function]. */
function table(label, rows, columns) {
  return h('div', { class: 'table-wrap' }, h('table', { 'aria-label': label },
    h('thead', {}, h('tr', {}, columns.map(([head]) => h('th', { scope: 'col' }, head)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row))))))));
}

/** A form that sends its values and reloads the page on success. */
function form(label, fields, submit, onDone) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const inputs = {};
  const rows = fields.map(([key, text, input]) => {
    input.id = `f-${label.replace(/\W+/g, '-')}-${key}`.toLowerCase();
    inputs[key] = input;
    return input.type === 'checkbox'
      ? h('div', { class: 'field check' }, input, h('label', { for: input.id }, text))
      : h('div', { class: 'field' }, h('label', { for: input.id }, text), input);
  });
  return h('form', { class: 'card form', 'aria-label': label, onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await submit(inputs);
      toast('Saved.');
      onDone();
    } catch (err) {
      error.textContent = err.message;
    }
  } }, h('h2', {}, label), h('div', { class: 'grid' }, rows), error, h('button', { type: 'submit', class: 'primary' }, label));
}

const input = (attrs = {}) => h('input', attrs);
const check = (checked = false) => h('input', { type: 'checkbox', checked });
const principals = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const yes = (b) => (b ? 'yes' : 'no');

async function act(fn, done) {
  try { await fn(); done(); } catch (err) { toast(err.message, 'error'); }
}

async function users(app, body) {
  const again = () => users(app, body);
  const page = await app.api.get('/admin/users', { limit: 500 });
  fill(body,
    form('Create user', [['login', 'Login (name@domain)', input({ required: true })], ['display_name', 'Display name', input()],
      ['password', 'Password (leave empty for a bot)', input({ type: 'password', autocomplete: 'new-password' })], ['admin', 'Administrator', check()]],
    (f) => app.api.post('/admin/users', { login: f.login.value.trim(), display_name: f.display_name.value.trim() || undefined,
      password: f.password.value || undefined, admin: f.admin.checked }), again),
    form('Change user', [['login', 'Login of the user to change', input({ required: true })], ['display_name', 'New display name', input()],
      ['site', 'Site (a space clears it)', input()], ['policy', 'Policy tag to grant (a space removes the grant)', input()],
      ['password', 'New password (signs the user out everywhere)', input({ type: 'password', autocomplete: 'new-password' })]],
    (f) => {
      // Only what was filled in changes; a single space asks to clear the value.
      const body = {};
      for (const key of ['display_name', 'site', 'policy', 'password']) {
        const v = f[key].value;
        if (v === '') continue;
        body[key] = key === 'password' ? v : v.trim();
      }
      return app.api.patch(`/admin/users/${encodeURIComponent(f.login.value.trim())}`, body);
    }, again),
    apiTokenForm(app),
    table('Users', page.items, [
      ['Login', (u) => u.login], ['Name', (u) => u.display_name], ['Site', (u) => u.site || ''], ['Policy', (u) => u.policy || ''],
      ['Admin', (u) => yes(u.admin)], ['Disabled', (u) => yes(u.disabled)],
      ['', (u) => h('div', { class: 'row' },
        h('button', { class: 'small', onclick: () => act(() => app.api.patch(`/admin/users/${encodeURIComponent(u.login)}`, { disabled: !u.disabled }), again) }, u.disabled ? 'Enable' : 'Disable'),
        u.id === app.me.user.id ? null : h('button', { class: 'small', onclick: () => act(() => app.api.patch(`/admin/users/${encodeURIComponent(u.login)}`, { admin: !u.admin }), again) }, u.admin ? 'Remove admin' : 'Make admin'))],
    ]),
    page.next ? h('p', { class: 'muted small' }, 'Showing the first 500 users.') : null);
}

/** API tokens for bots: the token is shown once, here, and never again. */
function apiTokenForm(app) {
  const shown = h('output', { class: 'token-once', id: 'new-api-token' });
  const f = form('Create API token', [['login', 'For user (login)', input({ required: true })], ['label', 'Label', input({ required: true })]],
    async (i) => {
      const t = await app.api.post('/tokens', { login: i.login.value.trim(), label: i.label.value.trim() });
      fill(shown, h('span', {}, 'Copy it now; it is not shown again: '), h('code', {}, t.token));
    }, () => {});
  f.append(shown);
  return f;
}

async function groups(app, body) {
  const again = () => groups(app, body);
  const page = await app.api.get('/admin/groups', { limit: 500 });
  fill(body,
    form('Create group', [['name', 'Name', input({ required: true })], ['members', 'Members (user:…, group:…, comma separated)', input()]],
      (f) => app.api.post('/admin/groups', { name: f.name.value.trim(), members: principals(f.members.value) }), again),
    table('Groups', page.items, [
      ['Name', (g) => g.name], ['Members', (g) => g.members.join(', ')],
      ['', (g) => {
        const add = input({ placeholder: 'user:… to add', 'aria-label': `Add a member to ${g.name}` });
        return h('div', { class: 'row' }, add,
          h('button', { class: 'small', onclick: () => act(() => app.api.patch(`/admin/groups/${encodeURIComponent(g.name)}`, { members: { add: principals(add.value) } }), again) }, 'Add'),
          h('button', { class: 'small danger', onclick: () => act(() => app.api.del(`/admin/groups/${encodeURIComponent(g.name)}`), again) }, 'Delete'));
      }],
    ]));
}

async function categories(app, body) {
  const again = () => categories(app, body);
  const list = await app.api.get('/categories');
  const edit = (c, key) => {
    const add = input({ placeholder: 'principal', 'aria-label': `Add to ${key} of ${c.name}` });
    return h('div', {}, h('div', { class: 'small' }, c[key].join(', ') || '—'),
      h('div', { class: 'row' }, add,
        h('button', { class: 'small', onclick: () => act(() => app.api.patch(`/admin/categories/${c.id}`, { [key]: { add: principals(add.value) } }), again) }, 'Add'),
        c[key].length ? h('button', { class: 'small', onclick: () => act(() => app.api.patch(`/admin/categories/${c.id}`, { [key]: { remove: principals(add.value) } }), again) }, 'Remove') : null));
  };
  const flag = (c, key) => h('button', { class: 'small', 'aria-pressed': String(c[key]), 'aria-label': `${key} of ${c.name}`,
    onclick: () => act(() => app.api.patch(`/admin/categories/${c.id}`, { [key]: !c[key] }), again) }, c[key] ? 'on' : 'off');
  fill(body,
    form('Create category', [['name', 'Name', input({ required: true })], ['allowed', 'Allowed members (comma separated)', input({ value: 'everyone' })],
      ['creators', 'Creators', input()], ['invitations', 'Invitations', check()], ['file_upload', 'File upload', check()], ['chat_history', 'Chat history', check(true)]],
    (f) => app.api.post('/admin/categories', { name: f.name.value.trim(), allowed_members: principals(f.allowed.value), creators: principals(f.creators.value),
      invitations: f.invitations.checked, file_upload: f.file_upload.checked, chat_history: f.chat_history.checked }), again),
    table('Categories', list, [
      ['Name', (c) => c.name], ['Allowed', (c) => edit(c, 'allowed_members')], ['Denied', (c) => edit(c, 'denied_members')],
      ['Creators', (c) => edit(c, 'creators')], ['Invitations', (c) => flag(c, 'invitations')], ['Files', (c) => flag(c, 'file_upload')],
      ['History', (c) => flag(c, 'chat_history')],
      ['', (c) => h('button', { class: 'small danger', onclick: () => act(() => app.api.del(`/admin/categories/${c.id}`), again) }, 'Delete')],
    ]));
}

async function addins(app, body) {
  const again = () => addins(app, body);
  const list = await app.api.get('/addins');
  fill(body,
    form('Register add-in', [['name', 'Name', input({ required: true })], ['url', 'URL (http:// or https://)', input({ required: true, type: 'url' })]],
      (f) => app.api.post('/admin/addins', { name: f.name.value.trim(), url: f.url.value.trim() }), again),
    table('Add-ins', list, [['Name', (a) => a.name], ['URL', (a) => a.url],
      ['', (a) => h('button', { class: 'small danger', onclick: () => act(() => app.api.del(`/admin/addins/${encodeURIComponent(a.name)}`), again) }, 'Delete')]]));
}

async function policies(app, body) {
  const again = () => policies(app, body);
  const list = await app.api.get('/admin/policies');
  fill(body,
    form('Set policy', [['scope', 'Scope (global, site:…, tag:…)', input({ required: true, value: 'global' })], ['on', 'Persistent chat on', check(true)],
      ['description', 'Description', input()]],
    (f) => app.api.put(`/admin/policies/${encodeURIComponent(f.scope.value.trim())}`, { enable_persistent_chat: f.on.checked, description: f.description.value || undefined }), again),
    table('Policies', list, [['Scope', (p) => p.scope], ['Persistent chat', (p) => yes(p.enable_persistent_chat)], ['Description', (p) => p.description || ''],
      ['', (p) => h('button', { class: 'small danger', onclick: () => act(() => app.api.del(`/admin/policies/${encodeURIComponent(p.scope)}`), again) }, 'Delete')]]));
}

async function config(app, body) {
  const again = () => config(app, body);
  const list = await app.api.get('/admin/config');
  const g = list.find((c) => c.scope === 'global') || {};
  fill(body,
    form('Set configuration', [['scope', 'Scope (global or site:…)', input({ required: true, value: 'global' })],
      ['history', 'Default chat history (messages)', input({ type: 'number', value: g.default_chat_history })],
      ['file', 'Largest file (KiB)', input({ type: 'number', value: g.max_file_size_kb })],
      ['participants', 'Participant update limit', input({ type: 'number', value: g.participant_update_limit })],
      ['url', 'Room management URL (empty: this client’s page)', input({ value: g.room_management_url || '' })]],
    (f) => app.api.put(`/admin/config/${encodeURIComponent(f.scope.value.trim())}`, { default_chat_history: Number(f.history.value),
      max_file_size_kb: Number(f.file.value), participant_update_limit: Number(f.participants.value), room_management_url: f.url.value.trim() }), again),
    table('Configuration', list, [['Scope', (c) => c.scope], ['History', (c) => c.default_chat_history], ['File KiB', (c) => c.max_file_size_kb],
      ['Participant limit', (c) => c.participant_update_limit], ['Room management URL', (c) => c.room_management_url],
      ['', (c) => h('button', { class: 'small danger', onclick: () => act(() => app.api.del(`/admin/config/${encodeURIComponent(c.scope)}`), again) }, 'Delete')]]));
}

async function compliance(app, body) {
  const again = () => compliance(app, body);
  const [cfg, runs] = await Promise.all([app.api.get('/admin/compliance/config'), app.api.get('/admin/compliance/runs', { limit: 50 })]);
  fill(body,
    form('Save compliance configuration', [['enabled', 'Processing on', check(cfg.enabled)],
      ['adapter', 'Adapter', h('select', {}, ['xml', 'jsonl', 'eml', 'command'].map((a) => h('option', { value: a, selected: a === cfg.adapter }, a)))],
      ['output_dir', 'Output folder', input({ value: cfg.output_dir })], ['interval', 'Run every (seconds)', input({ type: 'number', value: cfg.run_interval_secs })],
      ['per_room', 'One file per room', check(cfg.one_chat_room_per_output_file)], ['room_details', 'Room details', check(cfg.add_chat_room_details)],
      ['user_details', 'User details', check(cfg.add_user_details)], ['manifest', 'File attachments manifest', check(cfg.create_file_attachments_manifest)]],
    (f) => app.api.put('/admin/compliance/config', { enabled: f.enabled.checked, adapter: f.adapter.value, output_dir: f.output_dir.value,
      run_interval_secs: Number(f.interval.value), one_chat_room_per_output_file: f.per_room.checked, add_chat_room_details: f.room_details.checked,
      add_user_details: f.user_details.checked, create_file_attachments_manifest: f.manifest.checked }), again),
    h('div', { class: 'row' }, h('button', { class: 'primary', onclick: () => act(async () => {
      const r = await app.api.post('/admin/compliance/run');
      toast(r.error ? `The run failed: ${r.error}` : `Processed ${r.events} events into ${r.files} files.`, r.error ? 'error' : 'info');
    }, again) }, 'Run processing now')),
    h('h2', {}, 'Latest runs'),
    table('Compliance runs', runs, [['Run', (r) => r.id], ['Started', (r) => formatTime(r.started)], ['Events', (r) => r.events], ['Files', (r) => r.files],
      ['Batch', (r) => r.batch || ''], ['Error', (r) => r.error || '']]));
}

async function events(app, body) {
  let after = 0;
  const wrap = h('div');
  const more = h('button', {}, 'More events');
  const load = async () => {
    const list = await app.api.get('/admin/compliance/events', { after, limit: 200 });
    if (list.length) after = list[list.length - 1].id;
    wrap.append(table('Compliance events', list, [['Id', (e) => e.id], ['Time', (e) => formatTime(e.ts)], ['Kind', (e) => e.kind],
      ['Room', (e) => e.room], ['User', (e) => e.user], ['Seq', (e) => e.seq ?? ''], ['Detail', (e) => eventDetail(e)]]));
    more.hidden = list.length < 200;
  };
  more.addEventListener('click', () => load().catch((err) => toast(err.message, 'error')));
  fill(body, h('p', { class: 'muted' }, 'Events still waiting for compliance processing, oldest first.'), wrap, more);
  await load();
}

/** Every administrative change, oldest first, a page at a time (GET /admin/audit). */
async function audit(app, body) {
  let after = 0;
  const wrap = h('div');
  const more = h('button', {}, 'More changes');
  const load = async () => {
    const page = await app.api.get('/admin/audit', { after, limit: 200 });
    if (page.next) after = page.next;
    wrap.append(table('Audit log', page.items, [['Id', (r) => r.id], ['Time', (r) => formatTime(r.ts)], ['Who', (r) => r.actor],
      ['From', (r) => r.source || ''], ['Operation', (r) => r.operation], ['What', (r) => r.noun], ['Object', (r) => r.object]]));
    more.hidden = !page.next;
  };
  more.addEventListener('click', () => load().catch((err) => toast(err.message, 'error')));
  fill(body, h('p', { class: 'muted' }, 'Every administrative change: who made it, when, from where, and to what.'), wrap, more);
  await load();
}

/** The part of an event's detail a person scans for (the full record stays in the API). */
function eventDetail(e) {
  const d = e.detail || {};
  return d.text ?? d.reason ?? d.name ?? d.replacement ?? (d.count !== undefined ? `${d.count} messages` : '');
}
