// One room on screen: header, history with scroll-back, composer (Enter sends, Shift+Enter adds
// a line), file upload by button or drop, participants, and the room's add-in in a sandboxed frame.

import { h, fill, linkify, formatTime, formatSize, toast } from './dom.js';
import { joinRooms, history, addMessages, markRead, follow, roomBadges } from './app.js';

const PAGE = 50;

export class RoomView {
  constructor(app, room, main, { focusSeq }) {
    this.app = app;
    this.room = room;
    this.main = main;
    this.focusSeq = focusSeq;
    this.loadingOlder = false;
    this.closed = false;
    this.side = 'people';
    /** The seqs on screen: a resume fills gaps below messages that arrived live meanwhile. */
    this.shown = new Set();
    main.className = 'main room-main';
    this.build();
    room.wanted = true;
    if (room.joined) this.joinedChanged(false);
    else this.join();
    this.onVisible = () => { if (!document.hidden && this.atBottom()) markRead(this.room); };
    document.addEventListener('visibilitychange', this.onVisible);
  }

  close() {
    this.closed = true;
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  async join() {
    this.setNotice('Joining…');
    if (!this.app.live || !this.app.live.open) {
      this.setNotice('Connecting…');
      return; // onLiveOpen joins every wanted room
    }
    await joinRooms([this.room.id]);
  }

  // ---- layout ------------------------------------------------------------------------------

  build() {
    this.title = h('h1', { class: 'room-title', id: 'room-title' });
    this.badges = h('span', { class: 'badges' });
    this.description = h('p', { class: 'description', id: 'room-description' });
    this.actions = h('div', { class: 'room-actions' });
    this.header = h('header', { class: 'room-header' },
      h('div', { class: 'room-heading' }, this.title, this.badges), this.description, this.actions);
    this.list = h('ol', { class: 'messages', id: 'messages', 'aria-label': 'Messages', tabindex: '0' });
    // Screen readers hear new messages as they arrive, not the history as it loads.
    this.announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    this.top = h('div', { class: 'history-top muted small', role: 'status' });
    this.scroller = h('div', { class: 'scroller', id: 'scroller' }, this.top, this.list);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.jump = h('button', { class: 'jump', hidden: true, onclick: () => this.scrollToBottom() }, 'New messages ↓');
    this.notice = h('div', { class: 'room-notice', role: 'status' });
    this.composer = this.buildComposer();
    this.composer.hidden = true; // until the room is joined and the caller's rights are known
    this.sidePane = h('aside', { class: 'side-pane', id: 'side-pane', 'aria-label': 'Room details' });
    this.center = h('section', { class: 'room-center' }, this.header, this.notice, this.scroller, this.jump, this.composer, this.announcer);
    this.center.addEventListener('dragover', (e) => { if (this.canUpload()) { e.preventDefault(); this.center.classList.add('dropping'); } });
    this.center.addEventListener('dragleave', () => this.center.classList.remove('dropping'));
    this.center.addEventListener('drop', (e) => {
      this.center.classList.remove('dropping');
      if (!this.canUpload() || !e.dataTransfer.files.length) return;
      e.preventDefault();
      for (const f of e.dataTransfer.files) this.uploadAndPost(f);
    });
    fill(this.main, this.center, this.sidePane);
  }

  buildComposer() {
    this.input = h('textarea', { id: 'composer-text', rows: 1, placeholder: 'Write a message', 'aria-label': 'Message',
      'aria-describedby': 'composer-hint' });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    this.input.addEventListener('input', () => this.autosize());
    this.alertToggle = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', title: 'Send as an alert (high importance)',
      onclick: () => this.alertToggle.setAttribute('aria-pressed', String(this.alertToggle.getAttribute('aria-pressed') !== 'true')) }, '! Alert');
    this.storyTitle = h('input', { id: 'story-title', placeholder: 'Story title', 'aria-label': 'Story title', hidden: true });
    this.storyToggle = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', title: 'Post a story: a long message with a title',
      onclick: () => {
        const on = this.storyToggle.getAttribute('aria-pressed') !== 'true';
        this.storyToggle.setAttribute('aria-pressed', String(on));
        this.storyTitle.hidden = !on;
        (on ? this.storyTitle : this.input).focus();
      } }, '¶ Story');
    this.fileInput = h('input', { type: 'file', id: 'file-input', hidden: true, multiple: true,
      onchange: () => { for (const f of this.fileInput.files) this.uploadAndPost(f); this.fileInput.value = ''; } });
    this.attach = h('button', { type: 'button', class: 'toggle', title: 'Attach a file (or drop it on the room)', onclick: () => this.fileInput.click() }, 'Attach file');
    this.progress = h('div', { class: 'uploads' });
    this.sendButton = h('button', { type: 'submit', class: 'primary' }, 'Send');
    this.composerNote = h('p', { class: 'composer-note', id: 'composer-note', role: 'status' });
    return h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.composerNote, this.progress, this.storyTitle,
      h('div', { class: 'composer-row' }, this.input, this.sendButton),
      h('div', { class: 'composer-tools' }, this.alertToggle, this.storyToggle, this.attach, this.fileInput,
        h('span', { class: 'muted small', id: 'composer-hint' }, 'Enter sends · Shift+Enter new line')));
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  setNotice(text, kind = '') {
    this.notice.textContent = text || '';
    this.notice.className = `room-notice ${kind}`;
    this.notice.hidden = !text;
  }

  // ---- state changes -----------------------------------------------------------------------

  /** The room was joined (or re-joined after a reconnect), or could not be. */
  joinedChanged(resumed) {
    if (this.closed) return;
    const r = this.room;
    if (r.failure && !r.joined) {
      this.setNotice(r.failure.message, 'error');
      if (!r.view) {
        fill(this.title, 'Room unavailable');
        this.list.replaceChildren();
        this.composer.hidden = true;
        fill(this.actions);
        fill(this.sidePane);
        return;
      }
    } else {
      this.setNotice('');
    }
    this.viewChanged();
    if (!resumed || !this.rendered) this.renderAll();
    else this.appendLive([...r.msgs.values()]);
    this.renderSide();
  }

  viewChanged() {
    const v = this.room.view;
    if (!v || this.closed) return;
    fill(this.title, v.name);
    document.title = `${v.name} · Longhall`;
    fill(this.badges, roomBadges(v), h('span', { class: 'muted small' }, v.category));
    fill(this.description, linkify(v.description));
    this.description.hidden = !v.description;
    const followed = this.app.followed.has(v.id);
    fill(this.actions,
      v.roles.can_read ? h('button', { class: 'small', 'aria-pressed': String(followed), onclick: () => follow(v.id, !followed) }, followed ? 'Following' : 'Follow') : null,
      v.roles.can_manage ? this.manageLink(v) : null,
      h('button', { class: 'small', onclick: () => { this.side = 'people'; this.renderSide(true); } }, 'People'),
      v.addin ? h('button', { class: 'small', onclick: () => { this.side = 'addin'; this.renderSide(true); } }, v.addin.name) : null);
    this.composer.hidden = !v.roles.can_read || !this.room.joined;
    const canPost = v.roles.can_post;
    this.input.disabled = !canPost;
    this.sendButton.disabled = !canPost;
    this.alertToggle.disabled = !canPost;
    this.storyToggle.disabled = !canPost;
    this.attach.hidden = !this.canUpload();
    this.composerNote.textContent = canPost ? ''
      : v.type === 'auditorium' ? 'Only presenters post in this auditorium; you can read along.'
        : 'You can read this room but not post in it.';
    this.liveChanged();
  }

  manageLink(v) {
    const url = this.app.me.config.room_management_url;
    // A deployment may send room management to its own page (room_management_url).
    if (url) return h('a', { class: 'button small', href: url, target: '_blank', rel: 'noopener noreferrer' }, 'Manage');
    return h('a', { class: 'button small', href: `#/manage/${v.id}` }, 'Manage');
  }

  canUpload() {
    const v = this.room.view;
    return !!(v && v.file_upload && v.roles.can_post);
  }

  liveChanged() {
    if (this.closed) return;
    const state = this.app.liveState;
    if (state !== 'open' && this.room.view) this.setNotice('Connection lost — reconnecting. Messages you send now are posted over HTTP; nothing is lost.', 'warn');
    else if (this.notice.classList.contains('warn')) this.setNotice('');
  }

  // ---- messages ----------------------------------------------------------------------------

  sorted() { return [...this.room.msgs.values()].sort((a, b) => a.seq - b.seq); }

  renderAll() {
    this.rendered = true;
    const msgs = this.sorted();
    this.shown.clear();
    this.list.replaceChildren(...msgs.map((m) => this.messageEl(m)));
    this.lastRendered = msgs.length ? msgs[msgs.length - 1].seq : 0;
    this.firstRendered = msgs.length ? msgs[0].seq : null;
    this.updateTop();
    if (this.focusSeq) this.goTo(this.focusSeq);
    else this.scrollToBottom();
  }

  appendLive(added) {
    if (!this.rendered || this.closed) return;
    const stick = this.atBottom();
    const fresh = added.filter((x) => !this.shown.has(x.seq)).sort((a, b) => a.seq - b.seq);
    for (const m of fresh) {
      if (m.seq > this.lastRendered) {
        this.list.append(this.messageEl(m));
        this.lastRendered = m.seq;
      } else {
        this.insertInOrder(m);
      }
    }
    if (stick) this.scrollToBottom();
    else if (fresh.length) this.jump.hidden = false;
    const last = fresh[fresh.length - 1];
    if (last && last.author !== this.app.me.user.login) {
      this.announcer.textContent = `${last.author_name}${last.alert ? ' (alert)' : ''}: ${last.story_title || last.text}`;
    }
  }

  insertInOrder(m) {
    const after = [...this.list.children].find((el) => Number(el.dataset.seq) > m.seq);
    this.list.insertBefore(this.messageEl(m), after || null);
  }

  messageEl(m) {
    this.shown.add(m.seq);
    const author = h('span', { class: 'author', title: m.author }, m.author_name);
    const meta = h('div', { class: 'meta' }, author, h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)),
      m.alert ? h('span', { class: 'badge alert' }, 'Alert') : null,
      m.replaced ? h('span', { class: 'badge muted' }, 'edited by an administrator') : null);
    let body = h('div', { class: 'text' }, linkify(m.text));
    if (m.story_title) {
      body = h('details', { class: 'story' }, h('summary', {}, h('span', { class: 'story-title' }, m.story_title)), body);
    }
    const file = m.file ? h('button', { type: 'button', class: 'file', title: `Download ${m.file.name}`,
      onclick: () => this.app.api.download(m.file).catch((e) => toast(e.message, 'error')) },
    h('span', { class: 'file-icon', 'aria-hidden': 'true' }), h('span', { class: 'file-name' }, m.file.name), h('span', { class: 'muted small' }, ` ${formatSize(m.file.size)}`)) : null;
    const li = h('li', { class: `message${m.alert ? ' alert' : ''}${m.story_title ? ' is-story' : ''}`, id: `m-${m.room}-${m.seq}`, dataset: { seq: String(m.seq) } },
      meta, body, file);
    if (this.app.me.user.admin && !m.replaced) meta.append(this.removeButton(m));
    return li;
  }

  /** Shows these messages as they now are (replaced by an administrator), or drops the gone ones. */
  messagesChanged(seqs) {
    for (const seq of seqs) {
      const li = document.getElementById(`m-${this.room.id}-${seq}`);
      if (!li) continue;
      const m = this.room.msgs.get(seq);
      if (m) li.replaceWith(this.messageEl(m));
      else {
        li.remove();
        this.shown.delete(seq);
      }
    }
    this.updateTop();
  }

  /** Administrators remove a message (its text is replaced; the compliance record keeps it). */
  removeButton(m) {
    const button = h('button', { type: 'button', class: 'small remove', 'aria-label': `Remove the message of ${m.author_name}` }, 'Remove');
    button.addEventListener('click', async () => {
      // Two steps instead of a dialog: the first click asks, the second removes.
      if (button.dataset.armed !== 'yes') {
        button.dataset.armed = 'yes';
        button.textContent = 'Remove for everyone?';
        return;
      }
      try {
        // The room's `messages_replaced` frame shows the result, here as for everyone joined.
        await this.app.api.post(`/admin/rooms/${m.room}/remove-messages`, { seqs: [m.seq] });
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return button;
  }

  updateTop() {
    this.top.textContent = this.room.hasMore ? '' : (this.room.msgs.size ? 'This is the beginning of the room.' : 'No messages yet. Say hello!');
  }

  atBottom() { return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 60; }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jump.hidden = true;
    if (!document.hidden) markRead(this.room);
  }

  onScroll() {
    if (this.scroller.scrollTop < 300) this.loadOlder();
    if (this.atBottom()) { this.jump.hidden = true; markRead(this.room); }
  }

  /** Scroll-back: fetches the page before the oldest message and keeps the view where it was. */
  async loadOlder() {
    const r = this.room;
    if (this.loadingOlder || !r.hasMore || !r.loaded || r.oldest === null) return false;
    this.loadingOlder = true;
    this.top.textContent = 'Loading older messages…';
    try {
      const page = await history(r.id, { before_seq: r.oldest, limit: PAGE });
      const added = addMessages(r, page.messages).sort((a, b) => a.seq - b.seq);
      r.hasMore = page.has_more;
      if (this.closed) return false;
      // Keep what is on screen in place: grow the list above it and move the scroll by as much.
      const before = this.scroller.scrollHeight;
      const top = this.scroller.scrollTop;
      this.list.prepend(...added.map((m) => this.messageEl(m)));
      this.scroller.scrollTop = top + (this.scroller.scrollHeight - before);
      this.updateTop();
      return added.length > 0;
    } catch (err) {
      this.top.textContent = err.message;
      return false;
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Opens the room at a message (a search result): loads older pages until it is there. */
  async goTo(seq) {
    this.focusSeq = null;
    for (let i = 0; i < 40 && this.room.oldest !== null && this.room.oldest > seq && this.room.hasMore; i++) {
      if (!(await this.loadOlder())) break;
    }
    const el = document.getElementById(`m-${this.room.id}-${seq}`);
    if (el) {
      el.classList.add('highlight');
      el.scrollIntoView({ block: 'center' });
    } else {
      toast('That message is no longer in the room’s history.', 'info');
    }
  }

  // ---- posting -----------------------------------------------------------------------------

  async send() {
    const text = this.input.value;
    if (!text.trim()) return;
    const story = this.storyToggle.getAttribute('aria-pressed') === 'true';
    const req = { text, alert: this.alertToggle.getAttribute('aria-pressed') === 'true' };
    if (story) req.story_title = this.storyTitle.value.trim();
    if (await this.post(req)) {
      this.input.value = '';
      this.storyTitle.value = '';
      this.storyToggle.setAttribute('aria-pressed', 'false');
      this.storyTitle.hidden = true;
      this.alertToggle.setAttribute('aria-pressed', 'false');
      this.autosize();
      this.input.focus();
    }
  }

  async post(req) {
    const live = this.app.live;
    try {
      if (live && live.open && this.room.joined) await live.request({ type: 'post', room: this.room.id, ...req });
      else await this.app.api.post(`/rooms/${this.room.id}/messages`, req);
      this.scrollToBottom();
      return true;
    } catch (err) {
      toast(err.message, 'error');
      return false;
    }
  }

  async uploadAndPost(file) {
    const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
    const row = h('div', { class: 'upload' }, h('span', { class: 'small' }, file.name), bar);
    this.progress.append(row);
    try {
      const ref = await this.app.api.upload(this.room.id, file, (p) => { bar.value = p; });
      const text = this.input.value.trim() ? this.input.value : ref.name;
      if (await this.post({ text, file: ref.id }) && text === this.input.value) this.input.value = '';
    } catch (err) {
      toast(`${file.name}: ${err.message}`, 'error');
    } finally {
      row.remove();
    }
  }

  // ---- side pane ---------------------------------------------------------------------------

  renderSide(open = false) {
    if (this.closed) return;
    const r = this.room;
    const v = r.view;
    if (open) this.main.classList.add('side-open');
    const closeBtn = h('button', { class: 'icon side-close', 'aria-label': 'Close the side pane', onclick: () => this.main.classList.remove('side-open') }, '×');
    if (this.side === 'addin' && v && v.addin) {
      // The add-in runs in a sandbox: scripts and forms, but no access to this page or its token.
      fill(this.sidePane, h('div', { class: 'side-head' }, h('h2', {}, v.addin.name), closeBtn),
        h('iframe', { class: 'addin', src: v.addin.url, title: `${v.addin.name} (add-in)`, sandbox: 'allow-scripts allow-forms allow-popups',
          referrerpolicy: 'no-referrer' }));
      return;
    }
    let people;
    if (!r.joined) people = h('p', { class: 'muted small' }, 'Join the room to see who is here.');
    else if (r.large || !r.participants) {
      people = h('p', { class: 'muted small', id: 'large-room' }, `${v ? v.participant_count : ''} people are here. Large rooms don’t list their participants.`);
    } else {
      const list = [...r.participants.entries()].sort((a, b) => a[1].localeCompare(b[1]));
      people = h('ul', { class: 'participants', id: 'participants' }, list.map(([login, name]) => h('li', { title: login }, h('span', { class: 'dot' }), name)));
    }
    fill(this.sidePane, h('div', { class: 'side-head' }, h('h2', {}, `People${r.participants ? ` (${r.participants.size})` : ''}`), closeBtn), people);
  }
}
