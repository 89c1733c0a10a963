// Room management (the original's room-management page): the rooms one manages, creating a room
// in a category one may create in, and editing a room's settings and lists. The people pickers
// offer only principals the server says are eligible (GET /rooms/{id}/eligible).

import { h, fill, toast, badge } from './dom.js';

export async function renderManage(app, main, roomId) {
  if (roomId) return renderEdit(app, main, roomId);
  const list = h('ul', { class: 'directory', 'aria-label': 'Rooms you manage' });
  const create = h('div');
  fill(main, h('section', { class: 'page' }, h('h1', {}, 'Manage rooms'), create, h('h2', {}, 'Rooms you manage'), list));
  try {
    const [rooms, categories] = await Promise.all([
      app.api.get('/rooms', { managed: true, limit: 500 }),
      app.api.get('/categories'),
    ]);
    for (const v of rooms.items) {
      list.append(h('li', { class: 'card room-card' },
        h('div', { class: 'room-card-head' }, h('a', { class: 'room-title', href: `#/manage/${v.id}` }, v.name),
          badge(v.privacy, `privacy-${v.privacy}`), v.type === 'auditorium' ? badge('auditorium', 'auditorium') : null,
          v.disabled ? badge('disabled', 'warn') : null, h('span', { class: 'muted small' }, v.category)),
        v.description ? h('p', { class: 'description' }, v.description) : null));
    }
    if (!rooms.items.length) list.append(h('li', { class: 'muted' }, 'You manage no rooms yet.'));
    if (categories.length) fill(create, createForm(app, categories));
    else fill(create, h('p', { class: 'muted' }, 'You may not create rooms: no category lists you as a creator.'));
  } catch (err) {
    toast(err.message, 'error');
  }
}

function field(id, label, input, hint) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'muted small' }, hint) : null);
}

function select(options, value) {
  return h('select', {}, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

function createForm(app, categories) {
  const name = h('input', { required: true, maxlength: 256 });
  const description = h('input', { maxlength: 256 });
  const category = select(categories.map((c) => [String(c.id), c.name]), String(categories[0].id));
  const privacy = select([['open', 'Open — everyone in scope reads'], ['closed', 'Closed — members read, others find it'], ['secret', 'Secret — only members know it exists']], 'closed');
  const type = select([['normal', 'Normal — every reader posts'], ['auditorium', 'Auditorium — only presenters post']], 'normal');
  const error = h('p', { class: 'form-error', role: 'alert' });
  return h('form', { class: 'card form', 'aria-label': 'Create a room', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const v = await app.api.post('/rooms', { name: name.value.trim(), description: description.value, category: category.value, privacy: privacy.value, type: type.value });
      toast(`Room ${v.name} created.`);
      location.hash = `#/manage/${v.id}`;
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h('h2', {}, 'Create a room'),
  h('div', { class: 'grid' }, field('new-name', 'Name', name), field('new-category', 'Category', category),
    field('new-privacy', 'Privacy', privacy), field('new-type', 'Type', type)),
  field('new-description', 'Description', description),
  error, h('button', { type: 'submit', class: 'primary' }, 'Create room'));
}

async function renderEdit(app, main, id) {
  let v;
  let addins = [];
  let categories = [];
  try {
    [v, addins, categories] = await Promise.all([app.api.get(`/rooms/${id}`), app.api.get('/addins'), app.api.get('/categories')]);
  } catch (err) {
    fill(main, h('section', { class: 'page' }, h('h1', {}, 'Manage room'), h('p', { role: 'alert', class: 'form-error' }, err.message)));
    return;
  }
  if (!v.roles.can_manage) {
    fill(main, h('section', { class: 'page' }, h('h1', {}, v.name), h('p', { role: 'alert', class: 'form-error' }, 'Only this room’s managers and administrators may change it.')));
    return;
  }
  const name = h('input', { value: v.name, required: true, maxlength: 256 });
  const description = h('textarea', { rows: 2, maxlength: 256 });
  description.value = v.description;
  const cats = categories.some((c) => c.id === v.category_id) ? categories : [{ id: v.category_id, name: v.category }, ...categories];
  const category = select(cats.map((c) => [String(c.id), c.name]), String(v.category_id));
  const privacy = select([['open', 'Open'], ['closed', 'Closed'], ['secret', 'Secret']], v.privacy);
  const type = select([['normal', 'Normal'], ['auditorium', 'Auditorium']], v.type);
  const invitations = select([['inherit', 'As the category says'], ['off', 'Off for this room']], v.invitations);
  const addin = select([['', 'None'], ...addins.map((a) => [a.name, a.name])], v.addin ? v.addin.name : '');
  const disabled = h('input', { type: 'checkbox', checked: v.disabled });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const lists = { members: new ListEditor(app, v, 'members', 'Members'), managers: new ListEditor(app, v, 'managers', 'Managers'),
    presenters: new ListEditor(app, v, 'presenters', 'Presenters') };
  const form = h('form', { class: 'card form', 'aria-label': 'Room settings', onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    const body = {};
    if (name.value.trim() !== v.name) body.name = name.value.trim();
    if (description.value !== v.description) body.description = description.value;
    if (Number(category.value) !== v.category_id) body.category = category.value;
    if (privacy.value !== v.privacy) body.privacy = privacy.value;
    if (type.value !== v.type) body.type = type.value;
    if (invitations.value !== v.invitations) body.invitations = invitations.value;
    if (addin.value !== (v.addin ? v.addin.name : '')) body.addin = addin.value;
    if (disabled.checked !== v.disabled) body.disabled = disabled.checked;
    for (const [key, ed] of Object.entries(lists)) { const edit = ed.edit(); if (edit) body[key] = edit; }
    if (!Object.keys(body).length) { toast('Nothing to save.'); return; }
    try {
      const r = await app.api.patch(`/rooms/${id}`, body);
      toast(r.purged ? `Saved. Moving the room removed: ${r.purged.join(', ')}.` : 'Saved.');
      renderEdit(app, main, id);
    } catch (err) {
      error.textContent = err.message;
    }
  } },
  h('div', { class: 'grid' }, field('room-name', 'Name', name), field('room-category', 'Category', category),
    field('room-privacy', 'Privacy', privacy), field('room-type', 'Type', type),
    field('room-invitations', 'Invitations', invitations, v.invitations_active ? 'Invitations are sent now.' : 'No invitations are sent now.'),
    field('room-addin', 'Add-in', addin)),
  field('room-description', 'Description', description),
  h('div', { class: 'field check' }, disabled, h('label', { for: 'room-disabled' }, 'Disabled (hidden from everyone but managers and administrators)')),
  lists.members.el, lists.managers.el, v.type === 'auditorium' ? lists.presenters.el : null,
  error, h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save changes'), h('a', { class: 'button', href: `#/room/${id}` }, 'Open the room')));
  disabled.id = 'room-disabled';
  fill(main, h('section', { class: 'page' }, h('h1', {}, `Manage ${v.name}`), form));
}

/** One of a room's principal lists, edited as additions and removals (a list edit). */
class ListEditor {
  constructor(app, v, key, label) {
    this.app = app;
    this.room = v;
    this.key = key;
    this.current = [...(v[key] || [])];
    this.added = [];
    this.removed = [];
    this.ul = h('ul', { class: 'chips', 'aria-label': label });
    const filter = h('input', { type: 'search', placeholder: 'Find people to add', 'aria-label': `Find people to add to ${label.toLowerCase()}`, id: `pick-${key}` });
    const results = h('ul', { class: 'picker-results', 'aria-label': `People who may be added to ${label.toLowerCase()}` });
    let timer = null;
    filter.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (!filter.value.trim()) { fill(results); return; }
        try {
          const people = await app.api.get(`/rooms/${v.id}/eligible`, { filter: filter.value.trim(), presenters: key === 'presenters' ? true : undefined, limit: 10 });
          fill(results, people.map((p) => h('li', {}, h('button', { type: 'button', class: 'small', onclick: () => { this.add(`user:${p.login}`); fill(results); filter.value = ''; } },
            `${p.display_name} (${p.login})`))));
          if (!people.length) results.append(h('li', { class: 'muted small' }, 'Nobody eligible matches.'));
        } catch (err) { toast(err.message, 'error'); }
      }, 200);
    });
    // Groups, domains and `everyone` are typed; the server checks them against the category's
    // scope (out_of_scope) when the change is saved.
    const other = h('input', { placeholder: 'group:name, domain:example.org or everyone', 'aria-label': `A group, domain or everyone for ${label.toLowerCase()}`, id: `other-${key}` });
    const addOther = () => { if (other.value.trim()) { this.add(other.value.trim()); other.value = ''; } };
    other.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addOther(); } });
    this.el = h('fieldset', { class: 'list-editor' }, h('legend', {}, label), this.ul, filter, results,
      h('div', { class: 'row' }, other, h('button', { type: 'button', class: 'small', onclick: addOther }, 'Add')));
    this.render();
  }

  add(p) {
    if (this.current.includes(p)) return;
    this.current.push(p);
    this.removed = this.removed.filter((x) => x !== p);
    this.added.push(p);
    this.render();
  }

  remove(p) {
    this.current = this.current.filter((x) => x !== p);
    this.added = this.added.filter((x) => x !== p);
    if ((this.room[this.key] || []).includes(p)) this.removed.push(p);
    this.render();
  }

  render() {
    fill(this.ul, this.current.map((p) => h('li', { class: 'chip' }, h('span', {}, p),
      h('button', { type: 'button', class: 'icon', 'aria-label': `Remove ${p}`, onclick: () => this.remove(p) }, '×'))));
    if (!this.current.length) this.ul.append(h('li', { class: 'muted small' }, 'Nobody.'));
  }

  edit() {
    if (!this.added.length && !this.removed.length) return null;
    const e = {};
    if (this.removed.length) e.remove = this.removed;
    if (this.added.length) e.add = this.added;
    return e;
  }
}
