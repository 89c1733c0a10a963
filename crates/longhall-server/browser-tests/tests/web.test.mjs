// The web client in a real browser against a real server: what people see and do.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Server, launchBrowser, openAs, screenshot, STEP, ADMIN, ADMIN_PASSWORD } from './harness.mjs';

let server;
let browser;
let people;
const pages = [];

before(async () => {
  server = await Server.start();
  people = await server.people('alice', 'bob', 'carol');
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) assert.deepEqual(p.errors.map(String), [], 'no script errors on any page');
  if (browser) await browser.close();
  if (server) await server.cleanup();
});

async function open(user, options) {
  const page = await openAs(browser, server, user, options);
  pages.push(page);
  return page;
}

async function room(body, token = server.admin) {
  return server.call(token, 'POST', '/rooms', { category: 'General', ...body });
}

async function post(user, roomId, text, extra = {}) {
  return server.call(user.token, 'POST', `/rooms/${roomId}/messages`, { text, ...extra });
}

async function goToRoom(page, id) {
  await page.evaluate((h) => { location.hash = h; }, `#/room/${id}`);
  await page.waitForSelector('.composer:not([hidden]), .room-notice.error');
}

const messageTexts = (page) => page.$$eval('#messages .message .text', (els) => els.map((e) => e.textContent));

async function waitForText(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages .message .text')].some((e) => e.textContent === t), text, { timeout: STEP });
}

test('two people in two browsers chat in real time; Enter sends and Shift+Enter starts a new line', async () => {
  const r = await room({ name: 'Coffee', privacy: 'open' });
  const alice = await open(people.alice);
  const bob = await open(people.bob);
  await goToRoom(alice, r.id);
  await goToRoom(bob, r.id);
  await bob.waitForSelector('#participants li[title="alice@example.org"]');

  await alice.fill('#composer-text', 'Morning Bob');
  await alice.press('#composer-text', 'Shift+Enter');
  await alice.keyboard.type('anyone for coffee?');
  await alice.press('#composer-text', 'Enter');
  await waitForText(bob, 'Morning Bob\nanyone for coffee?');
  assert.equal(await alice.inputValue('#composer-text'), '', 'the composer is emptied once the message is posted');
  assert.equal(await bob.textContent('.room-center .sr-only[aria-live="polite"]'), 'Alice: Morning Bob\nanyone for coffee?',
    'a screen reader hears the new message');

  await bob.fill('#composer-text', 'On my way');
  await bob.click('.composer-tools button[title^="Send as an alert"]');
  await bob.press('#composer-text', 'Enter');
  await waitForText(alice, 'On my way');
  assert.equal(await alice.$eval('#messages .message:last-child', (el) => el.classList.contains('alert')), true, 'an alert is shown as one');
  assert.deepEqual(await messageTexts(alice), ['Morning Bob\nanyone for coffee?', 'On my way']);
  await screenshot(alice, 'chat-desktop-light');
});

test('a secret room stays invisible to a non-member: not in the directory, and answered like a missing room', async () => {
  const secret = await room({ name: 'Hidden desk', privacy: 'secret', members: ['user:alice@example.org'] });
  const bob = await open(people.bob);
  await bob.evaluate(() => { location.hash = '#/directory'; });
  await bob.waitForSelector('.directory .room-card'); // the page's first listing has arrived
  await bob.fill('#dir-q', 'Hidden');
  await bob.click('.filters button[type=submit]');
  await bob.waitForSelector('.directory li.muted');
  assert.equal(await bob.$$eval('.directory .room-card', (els) => els.length), 0);

  await goToRoom(bob, secret.id);
  const secretNotice = await bob.textContent('.room-notice');
  await goToRoom(bob, 987654);
  const missingNotice = await bob.textContent('.room-notice');
  assert.equal(secretNotice.replace(String(secret.id), 'N'), missingNotice.replace('987654', 'N'));
  assert.match(secretNotice, /does not exist/);
  assert.equal(await bob.$$eval('#messages .message', (els) => els.length), 0);

  const alice = await open(people.alice);
  await alice.evaluate(() => { location.hash = '#/directory'; });
  await alice.waitForSelector('.directory .room-card');
  await alice.fill('#dir-q', 'Hidden');
  await alice.click('.filters button[type=submit]');
  await alice.waitForSelector('.directory .room-card .badge.privacy-secret');
});

test('an auditorium refuses a non-presenter: the composer is off and says why, while the presenter posts', async () => {
  const hall = await room({ name: 'Town hall', privacy: 'open', type: 'auditorium', presenters: ['user:alice@example.org'] });
  const alice = await open(people.alice);
  const bob = await open(people.bob);
  await goToRoom(alice, hall.id);
  await goToRoom(bob, hall.id);
  assert.equal(await bob.isDisabled('#composer-text'), true);
  assert.equal(await bob.isDisabled('.composer button[type=submit]'), true);
  assert.match(await bob.textContent('#composer-note'), /Only presenters post/);
  assert.equal(await alice.isDisabled('#composer-text'), false);
  await alice.fill('#composer-text', 'Welcome to the quarterly update');
  await alice.press('#composer-text', 'Enter');
  await waitForText(bob, 'Welcome to the quarterly update');
  // Even a request forced past the disabled composer is refused by the server, with its sentence.
  await bob.evaluate(() => { const t = document.getElementById('composer-text'); t.disabled = false; t.value = 'me too'; document.querySelector('.composer').requestSubmit(); });
  await bob.waitForSelector('.toast.error');
  assert.match(await bob.textContent('.toast.error'), /presenter/i);
});

test('a manager edits a room on the management page and a member sees the change live', async () => {
  const carol = await open(people.carol);
  await carol.evaluate(() => { location.hash = '#/manage'; });
  await carol.fill('#new-name', 'Desk talk');
  await carol.selectOption('#new-privacy', 'open');
  await carol.click('form[aria-label="Create a room"] button[type=submit]');
  await carol.waitForSelector('#room-name');
  const id = Number(new URL(carol.url()).hash.split('/')[2]);

  const bob = await open(people.bob);
  await goToRoom(bob, id);
  assert.equal(await bob.textContent('#room-title'), 'Desk talk');

  await carol.fill('#room-name', 'Desk chat');
  await carol.fill('#room-description', 'Rates, flows and lunch');
  // The picker offers only eligible people; carol adds bob as a manager.
  await carol.fill('#pick-managers', 'bob');
  await carol.click('.picker-results button:has-text("bob@example.org")');
  await carol.click('form[aria-label="Room settings"] button[type=submit]');
  await carol.waitForSelector('.toast:has-text("Saved")');

  await bob.waitForFunction(() => document.getElementById('room-title').textContent === 'Desk chat', null, { timeout: STEP });
  assert.equal(await bob.textContent('#room-description'), 'Rates, flows and lunch');
  await bob.waitForSelector('.room-actions a:has-text("Manage")');
  await screenshot(carol, 'manage-desktop-light');

  // A principal the server refuses (here: no such group) shows its sentence, and nothing changes.
  await carol.waitForSelector('#other-members');
  await carol.fill('#other-members', 'group:no-such-group');
  await carol.press('#other-members', 'Enter');
  await carol.fill('#room-description', 'should not be saved');
  await carol.click('form[aria-label="Room settings"] button[type=submit]');
  await carol.waitForFunction(() => document.querySelector('form[aria-label="Room settings"] .form-error').textContent !== '');
  assert.match(await carol.textContent('form[aria-label="Room settings"] .form-error'), /no-such-group/);
  assert.equal(await bob.textContent('#room-description'), 'Rates, flows and lunch');
});

test('a deployment’s own room management page replaces the built-in one', async () => {
  const r = await room({ name: 'Managed elsewhere', privacy: 'open', managers: ['user:carol@example.org'] });
  await server.call(server.admin, 'PUT', '/admin/config/global', { room_management_url: 'https://rooms.example.org/manage' });
  try {
    const carol = await open(people.carol);
    await goToRoom(carol, r.id);
    const manage = await carol.waitForSelector('.room-actions a:has-text("Manage")');
    assert.equal(await manage.getAttribute('href'), 'https://rooms.example.org/manage');
  } finally {
    await server.call(server.admin, 'PUT', '/admin/config/global', { room_management_url: '' });
  }
});

test('scroll-back loads older history page by page without moving what is on screen', async () => {
  const r = await room({ name: 'Archive', privacy: 'open' });
  for (let i = 1; i <= 130; i++) await post(people.alice, r.id, i === 5 ? 'the needle in the haystack' : `archived message ${i}`);
  const bob = await open(people.bob);
  await goToRoom(bob, r.id);
  await waitForText(bob, 'archived message 130');
  assert.equal(await bob.$$eval('#messages .message', (els) => els.length), 50, 'the backchat is the latest 50');

  for (let round = 0; round < 5 && !(await bob.$(`#m-${r.id}-1`)); round++) {
    const first = await bob.$eval('#messages .message', (el) => el.dataset.seq);
    const count = await bob.$$eval('#messages .message', (els) => els.length);
    // Scrolled to the top, the oldest message shown is here; the older page loads after this.
    const topBefore = await bob.evaluate((id) => {
      document.getElementById('scroller').scrollTop = 0;
      return document.getElementById(id).getBoundingClientRect().top;
    }, `m-${r.id}-${first}`);
    await bob.waitForFunction((n) => document.querySelectorAll('#messages .message').length > n, count, { timeout: STEP });
    // The message that was at the top is still where it was: older messages grew above it.
    const topAfter = await bob.$eval(`#m-${r.id}-${first}`, (el) => el.getBoundingClientRect().top);
    assert.ok(Math.abs(topAfter - topBefore) < 2, `no jump: ${topBefore} → ${topAfter}`);
    assert.ok(await bob.$eval('#scroller', (el) => el.scrollTop) > 0, 'the view did not jump to the top');
  }
  await bob.waitForSelector(`#m-${r.id}-1`);
  await bob.$eval('#scroller', (el) => { el.scrollTop = 0; });
  await bob.waitForFunction(() => /beginning of the room/.test(document.querySelector('.history-top').textContent));
  const seqs = await bob.$$eval('#messages .message', (els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 130 }, (_, i) => i + 1), 'every message once, in order');
});

test('content search finds a message and opens its room at it', async () => {
  const alice = await open(people.alice);
  await alice.fill('#global-search', 'needle');
  await alice.press('#global-search', 'Enter');
  await alice.waitForSelector('.search-results .result');
  assert.match(await alice.textContent('.search-results .result'), /Archive.*the needle in the haystack/s);
  await alice.click('.search-results .result');
  await alice.waitForSelector('.message.highlight');
  assert.equal(await alice.textContent('.message.highlight .text'), 'the needle in the haystack');
  const visible = await alice.$eval('.message.highlight', (el) => {
    const r = el.getBoundingClientRect();
    const s = document.getElementById('scroller').getBoundingClientRect();
    return r.top >= s.top && r.bottom <= s.bottom;
  });
  assert.equal(visible, true, 'the found message is on screen');
});

test('invitations arrive live; accepting follows and opens the room, dismissing hides it', async () => {
  const bob = await open(people.bob);
  const desk = await room({ name: 'Invited desk', privacy: 'closed', members: ['user:bob@example.org'] });
  await bob.waitForSelector('.invitation:has-text("Invited desk")');
  await bob.click('.invitation:has-text("Invited desk") button:has-text("Accept")');
  await bob.waitForFunction(() => document.getElementById('room-title')?.textContent === 'Invited desk', null, { timeout: STEP });
  await bob.waitForSelector('.sidebar .room-link:has-text("Invited desk")');
  await bob.waitForSelector('.invitation:has-text("Invited desk")', { state: 'detached' });
  assert.ok(desk.id);

  await room({ name: 'Another desk', privacy: 'closed', members: ['user:bob@example.org'] });
  await bob.waitForSelector('.invitation:has-text("Another desk")');
  await bob.click('.invitation:has-text("Another desk") button:has-text("Dismiss")');
  await bob.waitForSelector('.invitation:has-text("Another desk")', { state: 'detached' });
  // Dismissed on the server: the user's other browsers don't show it either.
  const elsewhere = await open(people.bob);
  await elsewhere.waitForSelector('.sidebar .room-link:has-text("Invited desk")');
  assert.equal(await elsewhere.$('.invitation:has-text("Another desk")'), null, 'a dismissed invitation stays dismissed');
  assert.deepEqual(await server.call(people.bob.token, 'GET', '/invitations?after=0'), [], 'accepted and dismissed invitations are off the server too');
});

test('followed rooms show unread counts and alerts; opening the room reads them', async () => {
  const r = await room({ name: 'Alerts', privacy: 'open' });
  await server.call(people.bob.token, 'PUT', `/rooms/${r.id}/follow`);
  const bob = await open(people.bob);
  await bob.evaluate(() => { location.hash = '#/directory'; });
  await bob.waitForSelector('.sidebar .room-link:has-text("Alerts")');
  await post(people.alice, r.id, 'plain news');
  await post(people.alice, r.id, 'the build is red', { alert: true });
  const link = `.sidebar .room-link:has-text("Alerts")`;
  await bob.waitForSelector(`${link} .badge.unread:has-text("2")`);
  await bob.waitForSelector(`${link} .badge.alert:has-text("!1")`);
  // The counts are the server's: a fresh page shows the same.
  await bob.reload();
  await bob.waitForSelector(`${link} .badge.unread:has-text("2")`);
  await bob.waitForSelector(`${link} .badge.alert:has-text("!1")`);
  await bob.click(link);
  await waitForText(bob, 'the build is red');
  await bob.evaluate(() => { location.hash = '#/directory'; });
  await bob.waitForSelector(link);
  assert.equal(await bob.$(`${link} .badge`), null, 'read: no badges left');
  const followed = await server.call(people.bob.token, 'GET', '/followed');
  assert.equal(followed.find((f) => f.room === r.id).unread, 0, 'the read position is kept on the server');
});

test('the keyboard moves between followed rooms and to the search', async () => {
  const bob = await open(people.bob);
  await bob.waitForSelector('.sidebar .room-link');
  const order = await bob.$$eval('.sidebar .room-link', (els) => els.map((a) => a.getAttribute('href')));
  assert.ok(order.length >= 2, `bob follows several rooms: ${order}`);
  await bob.evaluate(() => { location.hash = '#/directory'; });
  await bob.waitForSelector('.directory');
  await bob.keyboard.press('Alt+ArrowDown');
  await bob.waitForFunction((h) => location.hash === h, order[0]);
  await bob.keyboard.press('Alt+ArrowDown');
  await bob.waitForFunction((h) => location.hash === h, order[1]);
  await bob.keyboard.press('Alt+ArrowUp');
  await bob.waitForFunction((h) => location.hash === h, order[0]);
  await bob.keyboard.press('Control+k');
  assert.equal(await bob.evaluate(() => document.activeElement.id), 'global-search');
});

test('files upload from the composer and download without a token in any URL', async () => {
  const r = await room({ name: 'Files', privacy: 'open' });
  const alice = await open(people.alice);
  const bob = await open(people.bob);
  await goToRoom(alice, r.id);
  await goToRoom(bob, r.id);
  const requests = [];
  bob.on('request', (req) => requests.push(req.url()));
  await alice.setInputFiles('#file-input', { name: 'minutes.txt', mimeType: 'text/plain', buffer: Buffer.from('decisions: ship it\n') });
  await bob.waitForSelector('.message .file:has-text("minutes.txt")');
  const [download] = await Promise.all([bob.waitForEvent('download'), bob.click('.message .file')]);
  assert.equal(download.suggestedFilename(), 'minutes.txt');
  assert.equal(readFileSync(await download.path(), 'utf8'), 'decisions: ship it\n');
  assert.ok(requests.some((u) => u.includes('/api/v1/files/')), 'the file came from the API');
  assert.ok(requests.every((u) => !u.includes('lh_')), 'no token in any URL');

  // Dropping a file on the room uploads it too.
  await alice.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['dropped bytes'], 'dropped.txt', { type: 'text/plain' }));
    const target = document.querySelector('.room-center');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await bob.waitForSelector('.message .file:has-text("dropped.txt")');

  // A file over the configured size is refused with the server's sentence.
  await server.call(server.admin, 'PUT', '/admin/config/global', { max_file_size_kb: 1 });
  try {
    await alice.setInputFiles('#file-input', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4096, 1) });
    await alice.waitForSelector('.toast.error');
    assert.match(await alice.textContent('.toast.error'), /big\.bin: .*(KiB|large)/i);
  } finally {
    await server.call(server.admin, 'PUT', '/admin/config/global', { max_file_size_kb: 20000 });
  }
});

test('a large room shows how many are there instead of a participant list', async () => {
  await server.call(server.admin, 'PUT', '/admin/config/global', { participant_update_limit: 1 });
  try {
    const r = await room({ name: 'Big hall', privacy: 'open' });
    const alice = await open(people.alice);
    await goToRoom(alice, r.id);
    await alice.waitForSelector('#participants li');
    const bob = await open(people.bob);
    await goToRoom(bob, r.id);
    await bob.waitForSelector('#large-room');
    assert.match(await bob.textContent('#large-room'), /Large rooms don’t list their participants/);
    assert.equal(await bob.$('#participants'), null);
    // The room turned large for alice too, live.
    await alice.waitForSelector('#large-room');
  } finally {
    await server.call(server.admin, 'PUT', '/admin/config/global', { participant_update_limit: 75 });
  }
});

test('a room’s add-in opens in a side pane, sandboxed away from the page and its token', async () => {
  const addin = await server.call(server.admin, 'POST', '/admin/addins', { name: 'Rates board', url: 'https://addin.example.org/board' });
  const r = await room({ name: 'With add-in', privacy: 'open', addin: addin.name });
  const bob = await open(people.bob);
  await goToRoom(bob, r.id);
  await bob.click('.room-actions button:has-text("Rates board")');
  const frame = await bob.waitForSelector('#side-pane iframe.addin');
  assert.equal(await frame.getAttribute('src'), 'https://addin.example.org/board');
  const sandbox = (await frame.getAttribute('sandbox')).split(/\s+/);
  assert.ok(sandbox.includes('allow-scripts') && !sandbox.includes('allow-same-origin'), `sandbox: ${sandbox}`);
  assert.equal(await frame.getAttribute('referrerpolicy'), 'no-referrer');
});

test('an administrator manages users and categories on the admin pages; others are refused', async () => {
  const admin = await open({ login: ADMIN, password: ADMIN_PASSWORD });
  await admin.evaluate(() => { location.hash = '#/admin/users'; });
  await admin.fill('#f-create-user-login', 'dave@example.org');
  await admin.fill('#f-create-user-display_name', 'Dave');
  await admin.fill('#f-create-user-password', 'dave-pass-for-tests');
  await admin.click('form[aria-label="Create user"] button[type=submit]');
  await admin.waitForSelector('table[aria-label="Users"] td:text-is("dave@example.org")');
  // A refusal shows the server's sentence next to the form.
  await admin.fill('#f-create-user-login', 'not-a-login');
  await admin.click('form[aria-label="Create user"] button[type=submit]');
  await admin.waitForFunction(() => document.querySelector('form[aria-label="Create user"] .form-error').textContent.length > 0);

  // Changing a user: only the fields filled in change.
  await admin.fill('#f-change-user-login', 'dave@example.org');
  await admin.fill('#f-change-user-site', 'London');
  await admin.click('form[aria-label="Change user"] button[type=submit]');
  await admin.waitForSelector('table[aria-label="Users"] td:text-is("London")');
  const dave = await server.call(server.admin, 'GET', '/admin/users/dave@example.org');
  assert.equal(dave.display_name, 'Dave');

  // An API token for a bot is shown once and works.
  await admin.fill('#f-create-api-token-login', 'dave@example.org');
  await admin.fill('#f-create-api-token-label', 'build bot');
  await admin.click('form[aria-label="Create API token"] button[type=submit]');
  const token = await (await admin.waitForSelector('#new-api-token code')).textContent();
  assert.equal((await server.call(token, 'GET', '/me')).user.login, 'dave@example.org');

  await admin.click('.tabs a:has-text("Categories")');
  await admin.fill('#f-create-category-name', 'Research');
  await admin.click('form[aria-label="Create category"] button[type=submit]');
  await admin.waitForSelector('table[aria-label="Categories"] td:text-is("Research")');
  for (const tab of ['Groups', 'Add-ins', 'Policies', 'Configuration', 'Compliance', 'Compliance record']) {
    await admin.click(`.tabs a:text-is("${tab}")`);
    await admin.waitForSelector('.admin-body table, .admin-body .form-error');
    assert.equal(await admin.$('.admin-body .form-error:not(form .form-error)'), null, `${tab} loads`);
  }
  // The audit log shows the changes just made on these pages.
  await admin.click('.tabs a:text-is("Audit log")');
  await admin.waitForSelector('table[aria-label="Audit log"] td:text-is("Research")');
  await admin.waitForSelector('table[aria-label="Audit log"] td:text-is("dave@example.org")');
  await screenshot(admin, 'admin-desktop-light');

  const bob = await open(people.bob);
  await bob.evaluate(() => { location.hash = '#/admin/users'; });
  await bob.waitForSelector('.admin-body .form-error');
  assert.match(await bob.textContent('.admin-body'), /Only administrators/);
});

test('people change their password and revoke their other sessions on the account page', async () => {
  const [erin] = Object.values(await server.people('erin'));
  const other = await server.signIn(erin.login, erin.password);
  const page = await open(erin);
  await page.click('.account-link');
  await page.waitForSelector('ul[aria-label="Tokens"] li');
  assert.ok((await page.$$('ul[aria-label="Tokens"] li')).length >= 3, 'every session is listed');
  // A wrong current password is refused with the server's sentence.
  await page.fill('#pw-current', 'not-my-password');
  await page.fill('#pw-new', 'a-brand-new-secret-42');
  await page.click('form[aria-label="Change password"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('form[aria-label="Change password"] .form-error').textContent !== '');
  await page.fill('#pw-current', erin.password);
  await page.fill('#pw-new', 'a-brand-new-secret-42');
  await page.click('form[aria-label="Change password"] button[type=submit]');
  await page.waitForSelector('.toast:has-text("Password changed")');
  await assert.rejects(server.call(other, 'GET', '/me'), /401/, 'the other sessions are signed out');
  // This page's own session stays: it lists the sessions again, now only itself.
  await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Tokens"] li').length === 1);
  const fresh = await server.signIn(erin.login, 'a-brand-new-secret-42');
  assert.equal((await server.call(fresh, 'GET', '/me')).user.login, erin.login, 'the new password works');
});

test('an administrator removes a message from the room view; everyone sees it removed', async () => {
  const r = await room({ name: 'Moderated', privacy: 'open' });
  await post(people.alice, r.id, 'keep this');
  await post(people.alice, r.id, 'an unfortunate remark');
  const admin = await open({ login: ADMIN, password: ADMIN_PASSWORD });
  await goToRoom(admin, r.id);
  const bob = await open(people.bob);
  await goToRoom(bob, r.id);
  await waitForText(bob, 'an unfortunate remark');
  assert.equal(await bob.$('.message .remove'), null, 'only administrators get the button');
  await admin.hover(`#m-${r.id}-2`);
  await admin.click(`#m-${r.id}-2 .remove`);
  await admin.click(`#m-${r.id}-2 .remove:has-text("Remove for everyone?")`);
  const notice = 'This message was replaced by an administrator.';
  await waitForText(admin, notice);
  // Everyone joined sees it at once (the messages_replaced frame), and history shows it later.
  await waitForText(bob, notice);
  assert.deepEqual(await messageTexts(bob), ['keep this', notice]);
  await bob.reload();
  await goToRoom(bob, r.id);
  await waitForText(bob, notice);
  assert.deepEqual(await messageTexts(bob), ['keep this', notice]);
});

test('the main views at desktop and phone width, in light and dark', async () => {
  const r = await room({ name: 'Trading floor', description: 'Rates desk chatter. Links: https://example.org', privacy: 'open' });
  await server.call(people.bob.token, 'PUT', `/rooms/${r.id}/follow`);
  await post(people.alice, r.id, 'Morning all. Gilts opened flat; watching the 10y auction at 11.');
  await post(people.carol, r.id, 'Swaps desk is in. Anyone seen the revised CPI print?');
  await post(people.alice, r.id, 'Released at 7:00, details on https://example.org/cpi');
  await post(people.carol, r.id, 'Auction tail was 0.3bp — decent demand.', { alert: true });
  await post(people.alice, r.id, 'Bid-to-cover 2.4x. Curve steepened 2bp after the result.\nClients asked about the 30y; will follow up after lunch.', { story_title: 'Morning summary' });
  await post(people.carol, r.id, 'Full notes below.');
  // Others in the room, so the people pane lists them.
  for (const who of [people.alice, people.carol]) await goToRoom(await open(who), r.id);
  for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 780 }]]) {
    for (const scheme of ['light', 'dark']) {
      const signin = await browser.newContext({ viewport, colorScheme: scheme, baseURL: server.url });
      const page = await signin.newPage();
      await page.goto('/');
      await page.waitForSelector('#login');
      await screenshot(page, `signin-${name}-${scheme}`);
      await signin.close();
      const bob = await open(people.bob, { viewport, colorScheme: scheme });
      await goToRoom(bob, r.id);
      await waitForText(bob, 'Full notes below.');
      await bob.waitForFunction(() => document.querySelectorAll('#participants li').length === 3, null, { timeout: STEP });
      await bob.click('.story summary');
      await bob.fill('#composer-text', 'Thanks, both.');
      await bob.mouse.move(0, viewport.height - 1);
      await screenshot(bob, `room-${name}-${scheme}`);
      if (name === 'phone') {
        // On a phone the room list is a drawer behind the ☰ button.
        assert.equal(await bob.isVisible('#sidebar'), false);
        await bob.click('.menu-toggle');
        await bob.waitForSelector('#sidebar .room-link:has-text("Trading floor")');
        await screenshot(bob, `rooms-${name}-${scheme}`);
        await bob.keyboard.press('Escape');
        await bob.waitForSelector('#sidebar', { state: 'hidden' });
      }
      await bob.evaluate(() => { location.hash = '#/directory'; });
      await bob.waitForSelector('.directory .room-card');
      await screenshot(bob, `directory-${name}-${scheme}`);
      await bob.context().close();
      pages.splice(pages.indexOf(bob), 1);
    }
  }
});

test('text from people renders as text: no markup or script from a message, a room name or a description', async () => {
  const evilName = '<img src=x onerror="window.__pwned=1">';
  const evilDescription = '<script>window.__pwned=2</script><b>bold?</b>';
  const evilText = '<img src=x onerror="window.__pwned=3"> javascript:alert(1) <a href="javascript:alert(1)">x</a> https://example.org/a?b=<c>';
  const r = await room({ name: evilName, description: evilDescription, privacy: 'open' });
  await server.call(people.bob.token, 'PUT', `/rooms/${r.id}/follow`);
  await post(people.alice, r.id, evilText, { story_title: '<i>story</i>' });
  const bob = await open(people.bob);
  await goToRoom(bob, r.id);
  await bob.waitForSelector('#messages .message');
  assert.equal(await bob.textContent('#room-title'), evilName);
  assert.equal(await bob.textContent('#room-description'), evilDescription);
  assert.equal(await bob.textContent('.story-title'), '<i>story</i>');
  await bob.click('.story summary');
  assert.equal(await bob.textContent('#messages .message .text'), evilText);
  assert.equal(await bob.$$eval('main img, .sidebar img, main script, main b, main i', (els) => els.length), 0);
  const hrefs = await bob.$$eval('#messages a', (els) => els.map((a) => a.href));
  assert.deepEqual(hrefs, ['https://example.org/a?b='], 'only the http(s) URL became a link');
  assert.equal(await bob.evaluate(() => window.__pwned), undefined);
  assert.equal(await bob.textContent(`.sidebar .room-link[href="#/room/${r.id}"] .room-name`), evilName);
});

test('after a server restart the page resumes without losing or repeating a message', async () => {
  const r = await room({ name: 'Resume', privacy: 'open' });
  const bob = await open(people.bob);
  await goToRoom(bob, r.id);
  for (let i = 1; i <= 3; i++) await post(people.alice, r.id, `before restart ${i}`);
  await waitForText(bob, 'before restart 3');

  await server.stop();
  await bob.waitForSelector('.live-state.reconnecting', { state: 'attached' });
  await server.start();
  // Posted while the page is still reconnecting: it learns of these through the resume.
  for (let i = 1; i <= 3; i++) await post(people.alice, r.id, `after restart ${i}`);
  await bob.waitForSelector('.live-state.open', { state: 'attached', timeout: 20_000 });
  await post(people.alice, r.id, 'live again');
  await waitForText(bob, 'live again');
  assert.deepEqual(await messageTexts(bob), [
    'before restart 1', 'before restart 2', 'before restart 3',
    'after restart 1', 'after restart 2', 'after restart 3', 'live again',
  ]);
  await bob.fill('#composer-text', 'still here');
  await bob.press('#composer-text', 'Enter');
  await waitForText(bob, 'still here');
  assert.equal((await messageTexts(bob)).filter((t) => t === 'still here').length, 1);
});
