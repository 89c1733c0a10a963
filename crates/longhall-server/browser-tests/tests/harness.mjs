// Runs the real `longhall` binary on a loopback port with a temporary data folder, and Debian's
// chromium through playwright-core. Setup (users, rooms) goes through the public HTTP API, as
// any client's would; what a test checks happens in the browser.

import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ADMIN = 'admin@longhall.local';
export const ADMIN_PASSWORD = 'admin-pass-for-browser-tests';
export const STEP = 10_000;

/** Where tests save screenshots (LONGHALL_SCREENSHOTS, else a folder next to the tests). */
export const SHOTS = process.env.LONGHALL_SCREENSHOTS || path.join(here, '..', 'screenshots');

function binary() {
  if (process.env.LONGHALL_BIN) return process.env.LONGHALL_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(here, '..', '..', '..', '..', 'target');
  return path.join(target, 'debug', 'longhall');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A `longhall serve` child process; `stop()` sends SIGTERM, `start()` runs it again on the same port and data. */
export class Server {
  static async start() {
    const s = new Server();
    s.dir = mkdtempSync(path.join(tmpdir(), 'longhall-web-'));
    s.port = await freePort();
    await s.start();
    return s;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    const env = { ...process.env, LONGHALL_ADMIN_PASSWORD: ADMIN_PASSWORD, LONGHALL_LOG_LEVEL: 'warn' };
    for (const k of Object.keys(env)) if (k.startsWith('LONGHALL_') && k !== 'LONGHALL_ADMIN_PASSWORD' && k !== 'LONGHALL_LOG_LEVEL') delete env[k];
    this.output = '';
    this.proc = spawn(binary(), ['serve', '--data-dir', path.join(this.dir, 'data'), '--listen', `127.0.0.1:${this.port}`],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.output += d; });
    this.proc.stderr.on('data', (d) => { this.output += d; });
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.exited = exited;
    const deadline = Date.now() + STEP;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${this.url}/readyz`);
        if (r.ok) return;
      } catch { /* not listening yet */ }
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`longhall did not become ready:\n${this.output}`);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(STEP).then(() => false)]);
    if (!done) this.proc.kill('SIGKILL');
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One HTTP API call; throws with the server's sentence on failure. Each call has its own
   * connection, so none is reused after the server closed it as idle. */
  call(token, method, route, body) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data !== undefined) headers['Content-Type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}/api/v1${route}`, { method, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          if (res.statusCode >= 300) reject(new Error(`${method} ${route}: ${res.statusCode} ${text}`));
          else resolve(text ? JSON.parse(text) : null);
        });
      });
      req.on('error', reject);
      req.setTimeout(STEP, () => req.destroy(new Error(`${method} ${route}: no answer`)));
      req.end(data);
    });
  }

  async signIn(login, password) {
    return (await this.call(null, 'POST', '/auth/sign-in', { login, password })).token;
  }

  /** The administrator's token and a user with a password per name (`alice` → alice@example.org). */
  async people(...names) {
    this.admin = this.admin || await this.signIn(ADMIN, ADMIN_PASSWORD);
    const users = {};
    for (const name of names) {
      const login = `${name}@example.org`;
      const password = `${name}-pass-for-tests`;
      await this.call(this.admin, 'POST', '/admin/users', { login, password, display_name: name[0].toUpperCase() + name.slice(1) });
      users[name] = { login, password, token: await this.signIn(login, password) };
    }
    return users;
  }
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
}

/** A page in its own browser context (its own storage: one person), with page errors collected. */
export async function openAs(browser, server, user, { viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, baseURL: server.url });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e));
  page.setDefaultTimeout(STEP);
  await page.goto('/');
  await page.fill('#login', user.login);
  await page.fill('#password', user.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('.topbar');
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}
