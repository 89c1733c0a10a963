// Longhall's web client: sign-in, the shell (header, sidebar of followed rooms and invitations),
// hash routes, the room directory and content search. The room view is in chat.js, room
// management in manage.js, the administration pages in admin.js.

import { Api, ApiError } from './api.js';
import { Live } from './live.js';
import { h, fill, toast, badge, formatTime } from './dom.js';
import { RoomView } from './chat.js';
import { renderManage } from './manage.js';
import { renderAdmin } from './admin.js';

const TOKEN_KEY = 'longhall.token';
const THEME_KEY = 'longhall.theme';

/** Everything the client knows; one per page. */
export const app = {
  api: new Api(localStorage.getItem(TOKEN_KEY)),
  live: null,
  me: null,
  /** room id → Room (see chat.js): view, messages, joined state, unread. */
  rooms: new Map(),
  /** GET /followed entries by room id. */
  followed: new Map(),
  invitations: [],
  current: null,
  roomView: null,
  liveState: 'connecting',
  els: {},
};

// ---- theme ---------------------------------------------------------------------------------

function applyTheme(theme) {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem(THEME_KEY));

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : matchMedia('(prefers-color-scheme: dark)').matches;
  const next = dark ? 'light' : 'dark';
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
}

// ---- sign-in -------------------------------------------------------------------------------

function showSignIn(notice) {
  if (app.live) app.live.stop();
  app.live = null;
  const root = document.getElementById('app');
  root.className = 'signin-page';
  const error = h('p', { class: 'form-error', role: 'alert' }, notice || '');
  const login = h('input', { id: 'login', name: 'login', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', {
    class: 'card signin',
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      error.textContent = '';
      try {
        const r = await new Api().post('/auth/sign-in', { login: login.value.trim(), password: password.value });
        localStorage.setItem(TOKEN_KEY, r.token);
        app.api.token = r.token;
        await start();
      } catch (err) {
        error.textContent = err.message;
        button.disabled = false;
        password.select();
      }
    },
  },
  h('div', { class: 'brand big' }, h('img', { src: '/web/icon.svg', alt: '' }), 'Longhall'),
  h('p', { class: 'muted' }, 'Persistent chat rooms. Sign in with your Longhall login.'),
  h('label', { for: 'login' }, 'Login'), login,
  h('label', { for: 'password' }, 'Password'), password,
  error, button);
  fill(root, h('main', { class: 'signin-wrap' }, form));
  login.focus();
}

async function signOut() {
  try { await app.api.post('/auth/sign-out'); } catch { /* the token is dropped either way */ }
  localStorage.removeItem(TOKEN_KEY);
  app.api.token = null;
  location.hash = '';
  location.reload();
}

app.api.onUnauthenticated = (message) => {
  localStorage.removeItem(TOKEN_KEY);
  app.api.token = null;
  showSignIn(message);
};

// ---- start ---------------------------------------------------------------------------------

async function start() {
  if (!app.api.token) return showSignIn();
  try {
    app.me = await app.api.get('/me');
  } catch (err) {
    if (err.code === 'unauthenticated') return; // onUnauthenticated showed the sign-in
    const root = document.getElementById('app');
    fill(root, h('main', { class: 'signin-wrap' }, h('div', { class: 'card' }, h('p', { role: 'alert' }, err.message),
      h('button', { onclick: () => start() }, 'Try again'), h('button', { onclick: signOut }, 'Sign out'))));
    return;
  }
  buildShell();
  app.live = new Live(app.api.token, {
    onFrame: onLiveFrame,
    onOpen: onLiveOpen,
    onState: setLiveState,
    onClosing: (f) => {
      if (f.code === 'unauthenticated' || f.code === 'account_disabled') {
        app.live.stop();
        localStorage.removeItem(TOKEN_KEY);
        showSignIn(f.message);
      } else {
        toast(f.message, 'info');
      }
    },
  });
  await Promise.all([refreshFollowed(), refreshInvitations()]);
  route();
}

function buildShell() {
  const root = document.getElementById('app');
  root.className = 'shell';
  const search = h('input', { type: 'search', id: 'global-search', placeholder: 'Search messages', 'aria-label': 'Search messages' });
  const status = h('span', { class: 'live-state', role: 'status', 'aria-live': 'polite' });
  const side = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Rooms' });
  const main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const menu = h('button', { class: 'icon menu-toggle', 'aria-label': 'Show rooms', 'aria-controls': 'sidebar', 'aria-expanded': 'false',
    onclick: () => setDrawer(!root.classList.contains('side-open')) }, '☰');
  const header = h('header', { class: 'topbar' },
    menu,
    h('a', { class: 'brand', href: '#/' }, h('img', { src: '/web/icon.svg', alt: '' }), h('span', {}, 'Longhall')),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => {
      e.preventDefault();
      location.hash = `#/search?q=${encodeURIComponent(search.value)}`;
    } }, search),
    status,
    h('div', { class: 'user-menu' },
      h('button', { class: 'icon', 'aria-label': 'Switch light or dark theme', title: 'Light or dark', onclick: toggleTheme }, '◐'),
      h('a', { class: 'button', href: '#/manage' }, 'Manage rooms'),
      app.me.user.admin ? h('a', { class: 'button', href: '#/admin/users' }, 'Admin') : null,
      h('a', { class: 'me', href: '#/account', title: `${app.me.user.login}: password and sessions` }, app.me.user.display_name),
      h('button', { onclick: signOut }, 'Sign out')));
  fill(root, header, h('div', { class: 'body' }, side, main));
  app.els = { root, side, main, status, search, menu };
  renderSidebar();
  setLiveState(app.liveState);
}

/** Opens or closes the room list drawer (phones). */
function setDrawer(open) {
  app.els.root.classList.toggle('side-open', open);
  app.els.menu.setAttribute('aria-expanded', String(open));
  if (open) app.els.side.querySelector('a, button')?.focus();
}

function setLiveState(state) {
  app.liveState = state;
  // A new connection has joined nothing yet: rooms are joined again (resumed) once it is open.
  if (state !== 'open') for (const r of app.rooms.values()) r.joined = false;
  if (!app.els.status) return;
  const text = { connecting: 'Connecting…', open: '', reconnecting: 'Reconnecting…' }[state] ?? '';
  app.els.status.textContent = text;
  app.els.status.className = `live-state ${state}`;
  if (app.roomView) app.roomView.liveChanged();
}

// ---- live frames ---------------------------------------------------------------------------

/** Room state shared by the sidebar and the room view. */
export function roomState(id) {
  let r = app.rooms.get(id);
  if (!r) {
    r = { id, view: null, msgs: new Map(), oldest: null, newest: 0, hasMore: true, wanted: false, joined: false,
      participants: null, large: false, alerts: 0, failure: null, loaded: false, joining: false };
    app.rooms.set(id, r);
  }
  return r;
}

/** Joins the rooms this page wants on a (new) connection, resuming after what it already has. */
async function onLiveOpen() {
  const ids = new Set([...app.followed.keys()]);
  for (const r of app.rooms.values()) if (r.wanted) ids.add(r.id);
  if (ids.size) await joinRooms([...ids]);
  refreshFollowed();
  refreshInvitations();
}

/** Joins rooms on the live connection: new ones get their backchat, known ones resume. */
export async function joinRooms(ids) {
  const rooms = ids.map(roomState).filter((r) => !r.joining);
  if (!rooms.length) return;
  const targets = rooms.map((r) => {
    r.wanted = true;
    r.joining = true;
    return r.loaded ? { room: r.id, after_seq: r.newest } : { room: r.id };
  });
  let answer;
  try {
    answer = await app.live.request({ type: 'join', rooms: targets, backchat: 50 });
  } catch (err) {
    if (err.code !== 'unreachable') toast(err.message, 'error');
    return;
  } finally {
    for (const r of rooms) r.joining = false;
  }
  for (const j of answer.rooms) {
    const r = roomState(j.room.id);
    const resumed = r.loaded;
    r.view = j.room;
    r.joined = true;
    r.failure = null;
    r.large = !j.participants;
    r.participants = j.participants ? new Map(j.participants.map((p) => [p.login, p.display_name])) : null;
    addMessages(r, j.messages, { live: resumed });
    if (!resumed) r.hasMore = j.has_more;
    r.loaded = true;
    // A resume returns at most 500: fill the rest of the gap page by page.
    let more = resumed && j.has_more;
    while (more) {
      const page = await history(r.id, { after_seq: r.newest, limit: 500 }).catch(() => null);
      if (!page) break;
      addMessages(r, page.messages, { live: true });
      more = page.has_more;
    }
    if (app.roomView && app.roomView.room === r) app.roomView.joinedChanged(resumed);
  }
  for (const f of answer.failed) {
    const r = roomState(f.room);
    r.joined = false;
    r.wanted = false;
    r.failure = f;
    if (app.roomView && app.roomView.room === r) app.roomView.joinedChanged(false);
  }
  renderSidebar();
}

/** A page of history over the live connection, or over HTTP while it is down. */
export async function history(room, q) {
  if (app.live && app.live.open) return app.live.request({ type: 'history', room, ...q });
  const query = { limit: q.limit, before: q.before_seq, after: q.after_seq };
  return app.api.get(`/rooms/${room}/messages`, query);
}

/** Adds messages to a room, each seq once; returns the ones that were new. */
export function addMessages(r, messages, { live = false } = {}) {
  const added = [];
  for (const m of messages) {
    if (r.msgs.has(m.seq)) continue;
    r.msgs.set(m.seq, m);
    added.push(m);
    if (r.oldest === null || m.seq < r.oldest) r.oldest = m.seq;
    if (m.seq > r.newest) r.newest = m.seq;
    const f = app.followed.get(r.id);
    if (live && f && m.seq > f.last_seq) {
      f.last_seq = m.seq;
      f.unread = f.last_seq - f.read_seq;
      if (m.alert) r.alerts += 1;
    }
  }
  return added;
}

function onLiveFrame(f) {
  switch (f.type) {
    case 'message': {
      const r = roomState(f.room);
      const { type: _type, ...m } = f;
      const added = addMessages(r, [m], { live: true });
      if (app.roomView && app.roomView.room === r) app.roomView.appendLive(added);
      renderSidebar();
      break;
    }
    case 'participant_joined':
    case 'participant_left': {
      const r = roomState(f.room);
      if (r.participants) {
        if (f.type === 'participant_joined') r.participants.set(f.participant.login, f.participant.display_name);
        else r.participants.delete(f.participant.login);
      }
      if (app.roomView && app.roomView.room === r) app.roomView.renderSide();
      break;
    }
    case 'room_large': {
      const r = roomState(f.room);
      r.large = f.large;
      r.participants = f.large ? null : new Map((f.participants || []).map((p) => [p.login, p.display_name]));
      if (app.roomView && app.roomView.room === r) app.roomView.renderSide();
      break;
    }
    case 'room_changed': {
      const r = roomState(f.room.id);
      r.view = f.room;
      const fl = app.followed.get(r.id);
      if (fl) fl.name = f.room.name;
      if (app.roomView && app.roomView.room === r) app.roomView.viewChanged();
      renderSidebar();
      break;
    }
    case 'kicked':
    case 'room_disabled':
    case 'room_deleted': {
      const r = roomState(f.room);
      r.joined = false;
      r.wanted = false;
      const why = {
        kicked: f.reason,
        room_disabled: 'This room was disabled by its manager or an administrator.',
        room_deleted: 'This room was deleted by an administrator.',
      }[f.type];
      r.failure = { code: f.type, message: why };
      if (app.roomView && app.roomView.room === r) app.roomView.joinedChanged(false);
      else toast(`${r.view ? r.view.name : `Room ${r.id}`}: ${why}`);
      refreshFollowed();
      break;
    }
    case 'messages_replaced':
    case 'messages_removed':
    case 'room_cleared': {
      // An administrator's content action: show each message as it now is, or drop it.
      const r = roomState(f.room);
      let seqs;
      if (f.type === 'messages_replaced') {
        seqs = f.messages.map((m) => m.seq);
        for (const m of f.messages) if (r.msgs.has(m.seq)) r.msgs.set(m.seq, m);
      } else {
        seqs = f.type === 'messages_removed' ? f.seqs : [...r.msgs.values()].filter((m) => m.ts <= f.up_to).map((m) => m.seq);
        for (const seq of seqs) r.msgs.delete(seq);
      }
      if (app.roomView && app.roomView.room === r) app.roomView.messagesChanged(seqs);
      break;
    }
    case 'invitation':
      if (!app.invitations.some((i) => i.id === f.id)) {
        app.invitations = app.invitations.filter((i) => i.room !== f.room);
        app.invitations.push({ id: f.id, room: f.room, room_name: f.room_name, ts: f.ts });
      }
      toast(`You were invited to ${f.room_name}.`);
      renderSidebar();
      break;
    default:
      break;
  }
}

// ---- followed rooms and invitations --------------------------------------------------------

export async function refreshFollowed() {
  try {
    const list = await app.api.get('/followed');
    app.followed = new Map(list.map((f) => [f.room, f]));
    // The server counts unread alerts; live ones are added as they come.
    for (const f of list) roomState(f.room).alerts = f.room === app.current ? 0 : f.unread_alerts;
    if (app.live && app.live.open) {
      const missing = list.filter((f) => !roomState(f.room).joined && !roomState(f.room).failure).map((f) => f.room);
      if (missing.length) await joinRooms(missing);
    }
  } catch (err) {
    if (err.code !== 'unauthenticated') toast(err.message, 'error');
  }
  renderSidebar();
}

async function refreshInvitations() {
  try {
    const list = await app.api.get('/invitations', { after: 0, limit: 500 });
    // An invitation pushed live while this list was on its way is newer than all of it: keep it.
    const newest = Math.max(0, ...list.map((i) => i.id));
    const pushed = app.invitations.filter((i) => i.id > newest && !list.some((l) => l.room === i.room));
    app.invitations = [...list, ...pushed].filter((i) => !app.followed.has(i.room));
  } catch (err) {
    if (err.code !== 'unauthenticated' && err.code !== 'policy_disabled') toast(err.message, 'error');
  }
  renderSidebar();
}

export async function follow(id, on) {
  try {
    if (on) await app.api.put(`/rooms/${id}/follow`);
    else await app.api.del(`/rooms/${id}/follow`);
  } catch (err) {
    toast(err.message, 'error');
    return;
  }
  app.invitations = app.invitations.filter((i) => i.room !== id);
  await refreshFollowed();
  if (app.roomView && app.roomView.room.id === id) app.roomView.viewChanged();
}

/** Marks a room read up to `seq` (the server keeps the position; it never moves back). */
export function markRead(r) {
  const f = app.followed.get(r.id);
  r.alerts = 0;
  if (f && r.newest > f.read_seq) {
    f.read_seq = r.newest;
    f.unread = Math.max(0, f.last_seq - f.read_seq);
    if (app.live && app.live.open) app.live.request({ type: 'read', room: r.id, seq: r.newest }).catch(() => {});
    else app.api.put(`/rooms/${r.id}/read`, { seq: r.newest }).catch(() => {});
  }
  renderSidebar();
}

export function renderSidebar() {
  const side = app.els.side;
  if (!side) return;
  const rooms = [...app.followed.values()].sort((a, b) => a.name.localeCompare(b.name));
  const items = rooms.map((f) => {
    const r = roomState(f.room);
    const current = app.current === f.room;
    const unread = current ? 0 : f.unread;
    const alerts = current ? 0 : r.alerts;
    const label = [f.name, unread ? `${unread} unread` : '', alerts ? `${alerts} alerts` : ''].filter(Boolean).join(', ');
    return h('li', {},
      h('a', { href: `#/room/${f.room}`, class: `room-link${current ? ' current' : ''}${unread ? ' has-unread' : ''}`,
        'aria-current': current ? 'page' : false, 'aria-label': label },
      h('span', { class: 'room-name' }, r.view ? r.view.name : f.name),
      alerts ? badge(`!${alerts}`, 'alert') : null,
      unread ? badge(String(unread), 'unread') : null));
  });
  const invites = app.invitations.map((i) => h('li', { class: 'invitation' },
    h('span', { class: 'room-name' }, i.room_name),
    h('span', { class: 'muted small' }, formatTime(i.ts)),
    h('div', { class: 'row' },
      h('button', { class: 'primary small', onclick: () => acceptInvitation(i) }, 'Accept'),
      h('button', { class: 'small', onclick: () => dismissInvitation(i) }, 'Dismiss'))));
  fill(side,
    h('a', { class: 'button wide', href: '#/directory' }, 'Browse rooms'),
    invites.length ? h('section', { 'aria-label': 'Invitations' }, h('h2', {}, 'Invitations'), h('ul', { class: 'invitations' }, invites)) : null,
    h('section', { 'aria-label': 'Followed rooms' }, h('h2', {}, 'Rooms'),
      items.length ? h('ul', { class: 'rooms' }, items) : h('p', { class: 'muted small' }, 'Rooms you follow appear here. Browse rooms to find some.')),
    h('a', { class: 'account-link small', href: '#/account' }, 'Your account: password and sessions'));
}

/** Accepting follows the room, opens it, and takes the invitation off the server's list. */
async function acceptInvitation(inv) {
  await follow(inv.room, true);
  if (!app.followed.has(inv.room)) return; // the follow was refused; its message is shown
  location.hash = `#/room/${inv.room}`;
  app.api.del(`/invitations/${inv.id}`).catch((err) => toast(err.message, 'error'));
}

async function dismissInvitation(inv) {
  // Dismissed on the server, so every client of the user stops showing it.
  try {
    await app.api.del(`/invitations/${inv.id}`);
  } catch (err) {
    toast(err.message, 'error');
    return;
  }
  app.invitations = app.invitations.filter((i) => i.id !== inv.id);
  renderSidebar();
}

// ---- routes --------------------------------------------------------------------------------

function route() {
  if (!app.me) return;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, queryString] = hash.split('?');
  const query = new URLSearchParams(queryString || '');
  const parts = path.split('/').filter(Boolean);
  setDrawer(false);
  if (app.roomView) { app.roomView.close(); app.roomView = null; }
  app.current = null;
  const main = app.els.main;
  main.className = 'main';
  if (parts[0] === 'room' && parts[1]) {
    app.current = Number(parts[1]);
    app.roomView = new RoomView(app, roomState(app.current), main, { focusSeq: Number(query.get('seq')) || null });
  } else if (parts[0] === 'directory') {
    renderDirectory(main, query);
  } else if (parts[0] === 'search') {
    renderSearch(main, query);
  } else if (parts[0] === 'manage') {
    renderManage(app, main, parts[1] ? Number(parts[1]) : null);
  } else if (parts[0] === 'account') {
    renderAccount(main);
  } else if (parts[0] === 'admin') {
    renderAdmin(app, main, parts[1] || 'users');
  } else {
    const first = [...app.followed.values()].sort((a, b) => a.name.localeCompare(b.name))[0];
    if (first) { location.replace(`#/room/${first.room}`); return; }
    renderDirectory(main, query);
  }
  renderSidebar();
}

window.addEventListener('hashchange', route);

// Keyboard: Escape closes the drawer and the side pane; Alt+↑/↓ moves between followed rooms;
// Ctrl+K (or ⌘K) goes to the message search.
document.addEventListener('keydown', (e) => {
  if (!app.els.root) return;
  if (e.key === 'Escape') {
    setDrawer(false);
    app.els.main.classList.remove('side-open');
  } else if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    const ids = [...app.followed.values()].sort((a, b) => a.name.localeCompare(b.name)).map((f) => f.room);
    if (!ids.length) return;
    e.preventDefault();
    const at = ids.indexOf(app.current);
    const next = at < 0 ? 0 : (at + (e.key === 'ArrowDown' ? 1 : ids.length - 1)) % ids.length;
    location.hash = `#/room/${ids[next]}`;
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
    e.preventDefault();
    app.els.search.focus();
  }
});
window.addEventListener('online', () => app.live && app.live.kick());

// ---- directory -----------------------------------------------------------------------------

export function roomBadges(v) {
  return [badge(v.privacy, `privacy-${v.privacy}`), v.type === 'auditorium' ? badge('auditorium', 'auditorium') : null,
    v.disabled ? badge('disabled', 'warn') : null];
}

function renderDirectory(main, query) {
  const q = h('input', { type: 'search', id: 'dir-q', value: query.get('q') || '', placeholder: 'Name or description' });
  const privacy = h('select', { id: 'dir-privacy' }, h('option', { value: '' }, 'Any privacy'),
    ['open', 'closed', 'secret'].map((p) => h('option', { value: p }, p)));
  const type = h('select', { id: 'dir-type' }, h('option', { value: '' }, 'Any type'),
    ['normal', 'auditorium'].map((p) => h('option', { value: p }, p)));
  const list = h('ul', { class: 'directory', 'aria-label': 'Rooms found' });
  const more = h('button', { hidden: true }, 'More rooms');
  let next = null;
  let generation = 0;
  async function load(reset) {
    // A new search supersedes one still on its way: its answer must not land in the new list.
    const mine = reset ? ++generation : generation;
    if (reset) { fill(list); next = null; }
    try {
      const page = await app.api.get('/rooms', { q: q.value.trim(), privacy: privacy.value, type: type.value, after: next ?? undefined, limit: 50 });
      if (mine !== generation) return;
      for (const v of page.items) list.append(directoryItem(v));
      if (reset && !page.items.length) list.append(h('li', { class: 'muted' }, 'No room matches. Secret rooms are found only by their members.'));
      next = page.next ?? null;
      more.hidden = next === null;
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  more.addEventListener('click', () => load(false));
  fill(main, h('section', { class: 'page' },
    h('h1', {}, 'Room directory'),
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); load(true); } },
      h('label', { for: 'dir-q', class: 'sr-only' }, 'Search rooms'), q,
      h('label', { for: 'dir-privacy', class: 'sr-only' }, 'Privacy'), privacy,
      h('label', { for: 'dir-type', class: 'sr-only' }, 'Type'), type,
      h('button', { type: 'submit', class: 'primary' }, 'Search')),
    list, more));
  load(true);
  q.focus();
}

function directoryItem(v) {
  const followed = app.followed.has(v.id);
  return h('li', { class: 'card room-card' },
    h('div', { class: 'room-card-head' },
      h('a', { href: `#/room/${v.id}`, class: 'room-title' }, v.name),
      roomBadges(v),
      h('span', { class: 'muted small' }, v.category)),
    v.description ? h('p', { class: 'description' }, v.description) : null,
    h('div', { class: 'row' },
      h('span', { class: 'muted small' }, `${v.participant_count} here now`),
      v.roles.can_read ? h('a', { class: 'button small', href: `#/room/${v.id}` }, 'Open') : h('span', { class: 'muted small' }, 'Members only'),
      v.roles.can_read && !followed ? h('button', { class: 'small', onclick: (e) => { e.target.disabled = true; follow(v.id, true); } }, 'Follow') : null));
}

// ---- content search ------------------------------------------------------------------------

function renderSearch(main, query) {
  const q = h('input', { type: 'search', id: 'search-q', value: query.get('q') || '', placeholder: 'Text in messages' });
  const author = h('input', { id: 'search-author', value: query.get('author') || '', placeholder: 'login (optional)' });
  const results = h('ol', { class: 'search-results', 'aria-label': 'Messages found' });
  const note = h('p', { class: 'muted', role: 'status' });
  async function run() {
    fill(results);
    note.textContent = 'Searching…';
    try {
      const r = await app.api.get('/search/messages', { q: q.value, author: author.value.trim(), limit: 100 });
      note.textContent = r.messages.length
        ? `${r.messages.length} message${r.messages.length === 1 ? '' : 's'}${r.cap_hit ? ' — more matched; narrow the search to see them' : ''}.`
        : 'No message matches.';
      const names = new Map();
      for (const m of r.messages) {
        const known = app.rooms.get(m.room)?.view?.name || app.followed.get(m.room)?.name;
        if (known) names.set(m.room, known);
      }
      await Promise.all([...new Set(r.messages.map((m) => m.room))].filter((id) => !names.has(id)).map(async (id) => {
        try { names.set(id, (await app.api.get(`/rooms/${id}`)).name); } catch { names.set(id, `Room ${id}`); }
      }));
      for (const m of r.messages) {
        results.append(h('li', {},
          h('a', { class: 'card result', href: `#/room/${m.room}?seq=${m.seq}` },
            h('div', { class: 'meta' }, h('strong', {}, names.get(m.room)), ' · ', h('span', {}, m.author_name), ' · ', h('time', {}, formatTime(m.ts))),
            m.story_title ? h('div', { class: 'story-title' }, m.story_title) : null,
            h('div', { class: 'text' }, m.text))));
      }
    } catch (err) {
      note.textContent = err.message;
    }
  }
  fill(main, h('section', { class: 'page' },
    h('h1', {}, 'Search messages'),
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); history_replace(q.value, author.value); run(); } },
      h('label', { for: 'search-q', class: 'sr-only' }, 'Text'), q,
      h('label', { for: 'search-author', class: 'sr-only' }, 'Author'), author,
      h('button', { type: 'submit', class: 'primary' }, 'Search')),
    note, results));
  if (app.els.search) app.els.search.value = q.value;
  if (q.value || author.value) run();
  q.focus();
}

function history_replace(q, author) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (author) params.set('author', author);
  window.history.replaceState(null, '', `#/search?${params}`);
}

// ---- account -------------------------------------------------------------------------------

function renderAccount(main) {
  const current = h('input', { id: 'pw-current', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const tokens = h('div');
  async function loadTokens() {
    try {
      const list = await app.api.get('/tokens');
      fill(tokens, list.length ? h('ul', { class: 'directory', 'aria-label': 'Tokens' }, list.map((t) => h('li', { class: 'card row' },
        h('span', {}, t.kind === 'session' ? 'Session (signed in)' : `API token “${t.label}”`),
        app.me.user.admin ? h('span', { class: 'muted small' }, t.login) : null,
        h('span', { class: 'muted small' }, `since ${formatTime(t.created)}`),
        h('button', { class: 'small danger', onclick: async () => {
          try { await app.api.del(`/tokens/${t.id}`); toast('Revoked.'); loadTokens(); } catch (err) { toast(err.message, 'error'); }
        } }, 'Revoke')))) : h('p', { class: 'muted' }, 'No tokens.'));
    } catch (err) {
      fill(tokens, h('p', { class: 'form-error' }, err.message));
    }
  }
  fill(main, h('section', { class: 'page' },
    h('h1', {}, 'Your account'),
    h('p', { class: 'muted' }, `${app.me.user.display_name} · ${app.me.user.login}`),
    h('form', { class: 'card form', 'aria-label': 'Change password', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await app.api.put('/me/password', { current: current.value, new: next.value });
        current.value = '';
        next.value = '';
        toast('Password changed. Your other sessions were signed out.');
        loadTokens();
      } catch (err) {
        error.textContent = err.message;
      }
    } },
    h('h2', {}, 'Change password'),
    h('div', { class: 'grid' }, h('div', { class: 'field' }, h('label', { for: 'pw-current' }, 'Current password'), current),
      h('div', { class: 'field' }, h('label', { for: 'pw-new' }, 'New password (8 characters or more)'), next)),
    error, h('button', { type: 'submit', class: 'primary' }, 'Change password')),
    h('h2', {}, 'Sessions and tokens'),
    h('p', { class: 'muted small' }, 'Revoking a token signs out whoever uses it, at once.'),
    tokens));
  loadTokens();
}

export { ApiError };

start();
