/**
 * Dynamic Rooms in a real browser: Debian's Chromium driven by playwright-core (no browser is
 * downloaded). Two pages in Berlin, one in Cairo, each on ONE multiplexed socket carrying the
 * lobby's live counts and the open room; then the server is stopped and started again on the
 * same port under the open pages.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../../scripts/build-client.ts';
import { login, startApp, TEST_SECRET, type TestApp } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) {
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser end-to-end tests are ${process.env.CI ? 'FAILING' : 'SKIPPED'} (apt-get install chromium) !!!\n`);
}

/** Console errors a browser logs by itself while the server is down, and only then. */
const WHILE_DOWN = /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|ERR_INTERNET_DISCONNECTED/;

interface Tab {
  name: string;
  context: BrowserContext;
  page: Page;
  errors: string[];
  /** The URL of every WebSocket the page opened, in order. */
  sockets: string[];
}

// On CI a missing browser fails the suite instead of skipping it.
describe.runIf(haveBrowser || process.env.CI)('Dynamic Rooms in Chromium', { timeout: 60_000 }, () => {
  let app: TestApp;
  let browser: Browser;
  let ann: Tab;
  let bob: Tab;
  let cat: Tab;

  beforeAll(async () => {
    if (!haveBrowser) throw new Error(`${CHROMIUM} is missing; .ci/run installs it with apt-get`);
    await buildClient();
    app = await startApp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    // One page at phone width: the layout must work there too.
    [ann, bob, cat] = await Promise.all([
      openTab('ann', 'Berlin', { width: 1000, height: 700 }),
      openTab('bob', 'Berlin', { width: 390, height: 844 }),
      openTab('cat', 'Cairo', { width: 1000, height: 700 }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function openTab(name: string, room: string, viewport: { width: number; height: number }): Promise<Tab> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors: string[] = [];
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('dialog', (dialog) => {
      errors.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(app.url);
    await page.locator('#login-name').fill(name);
    await page.locator('#login-name').press('Enter');
    await page.locator(`#rooms button[data-room="${room}"]`).click();
    await expectStatus({ name, context, page, errors, sockets }, 'connected');
    return { name, context, page, errors, sockets };
  }

  /** The names in the members list, "(you)" marked. */
  const members = (tab: Tab) =>
    tab.page.locator('#members li').evaluateAll((items) => items.map((li) => li.querySelector('.name')!.textContent! + (li.querySelector('.you') ? ' (you)' : '')));

  function expectStatus(tab: Tab, status: string): Promise<void> {
    return tab.page.locator(`#status[data-status="${status}"]`).waitFor({ timeout: 15_000 });
  }

  async function say(tab: Tab, text: string): Promise<void> {
    await tab.page.locator('#message').fill(text);
    await tab.page.locator('#message').press('Enter');
    await logItem(tab, text).waitFor();
  }

  /** Waits until the room picker shows `count` members for `room` (from the lobby subscription). */
  const roomCount = (tab: Tab, room: string, count: number) => tab.page.locator(`#rooms button[data-room="${room}"][data-count="${count}"]`).waitFor();

  const logItem = (tab: Tab, text: string) => tab.page.locator('#log li .text', { hasText: text }).first();
  const texts = (tab: Tab) => tab.page.locator('#log li .text').allTextContents();

  it('serves the page with a title, a favicon and no console errors', async () => {
    expect(await ann.page.title()).toBe('Dynamic Rooms');
    const icon = await ann.page.locator('link[rel="icon"]').getAttribute('href');
    const res = await fetch(new URL(icon!, app.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('svg');
    for (const tab of [ann, bob, cat]) expect(tab.errors).toEqual([]);
  });

  it('shows a Berlin message in the other Berlin page and not in Cairo', async () => {
    await say(ann, 'Hallo Berlin');
    await logItem(bob, 'Hallo Berlin').waitFor();
    const row = bob.page.locator('#log li', { hasText: 'Hallo Berlin' });
    await expect(row.locator('.who').textContent()).resolves.toBe('ann');
    await expect(row.locator('time').getAttribute('datetime')).resolves.toMatch(/^\d{4}-\d\d-\d\dT/);

    // Cairo's own message arrives after the Berlin one was broadcast: had Cairo received it, it
    // would be in the log already.
    await say(cat, 'Salam Cairo');
    expect(await texts(cat)).toEqual(['Salam Cairo']);
    expect(await texts(bob)).toEqual(['Hallo Berlin']);

    await bob.page.locator('#members li', { hasText: 'ann' }).waitFor();
    await expect(members(bob)).resolves.toEqual(expect.arrayContaining(['ann', 'bob (you)']));
    await expect(members(cat)).resolves.toEqual(['cat (you)']);
  });

  it('puts the cursor in the message box, and shows initials, joins, leaves and an empty room', async () => {
    const long = 'dann-whose-name-is-32-characters';
    const dan = await openTab(long, 'Berlin', { width: 1000, height: 700 });
    try {
      expect(await dan.page.evaluate(() => document.activeElement?.id)).toBe('message');
      await ann.page.locator('#log li.event', { hasText: `${long} joined` }).waitFor();
      await ann.page.locator('#members li', { hasText: long }).waitFor();
      await expect(ann.page.locator('#members li .avatar').allTextContents()).resolves.toEqual(expect.arrayContaining(['AN', 'BO', 'DA']));
      await expect(ann.page.locator('#log li', { hasText: 'Hallo Berlin' }).locator('.avatar').textContent()).resolves.toBe('AN');
      expect(await ann.page.locator('#empty-room').isVisible()).toBe(false);
      // "(you)" stays on the name's line, the name giving way.
      const name = (await dan.page.locator('#members li.self .name').boundingBox())!;
      const you = (await dan.page.locator('#members li.self .you').boundingBox())!;
      expect(Math.abs(you.y - name.y)).toBeLessThan(4);
      expect(you.x).toBeGreaterThan(name.x + name.width - 1);

      // The lobby on ann's socket counts dan in, and out of Berlin into Kyiv, live.
      await roomCount(ann, 'Berlin', 3);
      await dan.page.locator('#room-name').fill('Kyiv');
      await dan.page.locator('#room-name').press('Enter');
      await expectStatus(dan, 'connected');
      await ann.page.locator('#log li.event', { hasText: `${long} left` }).waitFor();
      await roomCount(ann, 'Berlin', 2);
      await roomCount(ann, 'Kyiv', 1);
      await expect(ann.page.locator('#rooms button[data-room="Kyiv"]').textContent()).resolves.toBe('Kyiv · 1');
      expect(dan.sockets).toEqual(['/api/1/ws']);
      await expect(dan.page.locator('#empty-room').textContent()).resolves.toMatch(/^No messages in Kyiv yet/);
      expect(await dan.page.locator('#empty-room').isVisible()).toBe(true);
      await dan.page.screenshot({ path: `${ARTIFACTS}rooms-empty-long-name.png` });
      await say(dan, 'first!');
      expect(await dan.page.locator('#empty-room').isVisible()).toBe(false);
    } finally {
      await dan.context.close();
    }
  });

  it('renders user text as text, never as HTML', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    await say(ann, evil);
    await logItem(bob, '<b>bold</b>').waitFor();
    expect(await texts(bob)).toContain(evil);
    expect(await bob.page.locator('#log img, #log b').count()).toBe(0);
    expect(await bob.page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('fits a phone screen without sideways scrolling', async () => {
    const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await expect(bob.page.locator('#message').isVisible()).resolves.toBe(true);
  });

  it('shows reconnecting while the server is down, then reconnects and keeps the log whole', async () => {
    const port = app.port;
    const before = await texts(bob);
    await app.close();
    await Promise.all([ann, bob, cat].map((tab) => expectStatus(tab, 'reconnecting')));
    await expect(bob.page.locator('#status').textContent()).resolves.toBe('Reconnecting…');

    app = await startApp({ port });
    await Promise.all([ann, bob, cat].map((tab) => expectStatus(tab, 'connected')));
    expect(await texts(bob)).toEqual(before);

    // Chat works on the new server, and the members came back, still signed in (the same
    // secret, as `npm start` keeps it in development).
    await say(bob, 'back again');
    await logItem(ann, 'back again').waitFor();
    await bob.page.locator('#members li', { hasText: 'ann' }).waitFor();
    await expect(bob.page.locator('#log li', { hasText: 'back again' }).locator('.who').textContent()).resolves.toBe('bob');
    await expect(members(bob)).resolves.toContain('bob (you)');
    await mkdir(ARTIFACTS, { recursive: true });
    await bob.page.screenshot({ path: `${ARTIFACTS}rooms-phone.png`, fullPage: true });
    await ann.page.screenshot({ path: `${ARTIFACTS}rooms-desktop.png` });
  });

  it('catches up after a restart on what was said while it was away, without duplicates', async () => {
    const port = app.port;
    await app.close();
    await expectStatus(bob, 'reconnecting');
    // Offline holds bob's page back (the client waits for `online`), so the message below is
    // posted before it reconnects, deterministically: it can only reach the page by the resync.
    await bob.context.setOffline(true);
    await bob.page.locator('#status', { hasText: 'Offline' }).waitFor();
    app = await startApp({ port });
    await expectStatus(ann, 'connected');
    const res = await fetch(`${app.url}/api/1/rooms/Berlin/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'said while bob was away' }),
    });
    expect(res.status).toBe(201);
    await logItem(ann, 'said while bob was away').waitFor();

    await bob.context.setOffline(false);
    await expectStatus(bob, 'connected');
    await logItem(bob, 'said while bob was away').waitFor();
    const log = await texts(bob);
    expect(log.filter((t) => t === 'said while bob was away')).toHaveLength(1);
    expect(new Set(log).size).toBe(log.length);
    expect(log.slice(0, 3)).toEqual(['Hallo Berlin', '<img src=x onerror="window.__pwned=1"><b>bold</b>', 'back again']);
  });

  it('switches rooms on the same socket: the old room is left, the lobby stays', async () => {
    // The restart above closed cat's socket too: counted once it is back, not while it retries.
    await expectStatus(cat, 'connected');
    const opened = cat.sockets.length;
    await cat.page.locator('#rooms button[data-room="Amsterdam"]').click();
    await expectStatus(cat, 'connected');
    await cat.page.locator('#members li', { hasText: 'cat' }).waitFor();
    // Member lists are for signed-in users.
    const cookie = await login(app, 'observer');
    const members = async (room: string) => {
      const body = (await (await fetch(`${app.url}/api/1/rooms/${room}`, { headers: { cookie } })).json()) as { members: Array<{ username: string }> };
      return body.members.map((m) => m.username);
    };
    expect(await members('Amsterdam')).toEqual(['cat']);
    await expect.poll(() => members('Cairo')).toEqual([]);
    expect(await texts(cat)).toEqual([]);
    expect(cat.sockets).toHaveLength(opened);
    expect(cat.sockets.every((path) => path === '/api/1/ws')).toBe(true);
    await roomCount(cat, 'Amsterdam', 1);
    await roomCount(cat, 'Cairo', 0);
  });

  it('refuses a bad room name beside the field, with no room card and a short badge', async () => {
    await cat.page.locator('#room-name').fill('no spaces allowed');
    await cat.page.locator('#room-name').press('Enter');
    await expectStatus(cat, 'rejected');
    await expect(cat.page.locator('#room-error').textContent()).resolves.toBe(
      'Cannot open "no spaces allowed": room names are 1-40 letters, digits, _ or -, starting with a letter or digit',
    );
    expect(await cat.page.locator('#room').isVisible()).toBe(false);
    await expect(cat.page.locator('#room-name').inputValue()).resolves.toBe('no spaces allowed');
    expect(await cat.page.evaluate(() => document.activeElement?.id)).toBe('room-name');
    await expect(cat.page.locator('#status').textContent()).resolves.toBe('Refused');
    await expect(cat.page.locator('#status').getAttribute('title')).resolves.toMatch(/^invalid params: roomName/);
    const badge = (await cat.page.locator('#status').boundingBox())!;
    expect(badge.height).toBeLessThan(40);
    expect(new URL(cat.page.url()).hash).toBe('');
    await cat.page.screenshot({ path: `${ARTIFACTS}rooms-rejected.png` });

    // A good name then opens as usual, and the error goes.
    await cat.page.locator('#room-name').fill('Cairo');
    await cat.page.locator('#room-name').press('Enter');
    await expectStatus(cat, 'connected');
    await expect(cat.page.locator('#room-error').textContent()).resolves.toBe('');
  });

  it('refuses a name that is no path segment (".." would leave the rooms) beside the field, without a page error', async () => {
    // What the browser logged while the server was down, earlier, is not this test's.
    const earlier = cat.errors.length;
    await cat.page.locator('#room-name').fill('..');
    await cat.page.locator('#room-name').press('Enter');
    await expect.poll(() => cat.page.locator('#room-error').textContent()).toBe('Cannot open "..": not a room name');
    expect(await cat.page.locator('#room').isVisible()).toBe(false);
    expect(cat.errors.slice(earlier)).toEqual([]);
    await cat.page.locator('#room-name').fill('Cairo');
    await cat.page.locator('#room-name').press('Enter');
    await expectStatus(cat, 'connected');
  });

  it('signs out: the socket closes and the name form comes back', async () => {
    await ann.page.locator('#logout').click();
    await ann.page.locator('#login-name').waitFor();
    await expectStatus(ann, 'idle');
    await bob.page.locator('#members li', { hasText: 'ann' }).waitFor({ state: 'detached' });
    await bob.page.locator('#log li.event', { hasText: 'ann left' }).waitFor();
    const me = await ann.page.evaluate(() => fetch('/api/1/auth/me').then((r) => r.json()));
    expect(me).toEqual({ user: null });
  });

  it('shows the sign-in again when the server no longer knows the session, then reopens the room', async () => {
    // A restart under another secret (a production server without SESSION_SECRET did this at
    // every restart): the page reconnects, and the welcome's ctx is a guest.
    const port = app.port;
    await app.close();
    await expectStatus(bob, 'reconnecting');
    app = await startApp({ port, sessionSecret: `${TEST_SECRET}-but-another-one` });
    await bob.page.locator('#login').waitFor();
    await expect(bob.page.locator('#login-error').textContent()).resolves.toMatch(/^The server no longer knows your session/);
    expect(await bob.page.locator('#room').isVisible()).toBe(false);
    expect(await bob.page.locator('#me').isVisible()).toBe(false);
    await bob.page.screenshot({ path: `${ARTIFACTS}rooms-session-ended.png` });

    await bob.page.locator('#login-name').fill('bob');
    await bob.page.locator('#login-name').press('Enter');
    await expectStatus(bob, 'connected');
    await expect(bob.page.locator('#room-title').textContent()).resolves.toBe('Berlin');
    // The members come with the room's REST state, after the welcome.
    await bob.page.locator('#members li.self', { hasText: 'bob' }).waitFor();
    await expect(members(bob)).resolves.toContain('bob (you)');
  });

  it('logged no console errors other than failed connections while the server was down', () => {
    for (const tab of [ann, bob, cat]) {
      expect(tab.errors.filter((e) => !WHILE_DOWN.test(e)), tab.name).toEqual([]);
    }
  });
});
