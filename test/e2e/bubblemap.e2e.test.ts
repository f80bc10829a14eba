/**
 * The Bubble Map page in Debian's Chromium (playwright-core, no browser downloaded): a map
 * created in one page, bubbles added by clicking the board and seen in the other, a refused edit
 * explained, user text shown as text, the map deleted under the other page, and a session the
 * restarted server no longer knows.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../../scripts/build-client.ts';
import { startApp, TEST_SECRET, type TestApp } from '../helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe.runIf(haveBrowser || process.env.CI)('Bubble Map in Chromium', { timeout: 60_000 }, () => {
  let app: TestApp;
  let browser: Browser;
  let ada: Page;
  let bob: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!haveBrowser) throw new Error(`${CHROMIUM} is missing; .ci/run installs it with apt-get`);
    await buildClient();
    app = await startApp();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    [ada, bob] = await Promise.all([signIn('ada'), signIn('bob')]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function signIn(name: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
    page.on('console', (msg) => msg.type() === 'error' && errors.push(`${name}: ${msg.text()}`));
    page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${app.url}/bubblemap.html`);
    await page.locator('#login-name').fill(name);
    await page.locator('#login-name').press('Enter');
    await page.locator('#lobby').waitFor();
    return page;
  }

  const bubble = (page: Page, text: string) => page.locator('.bubble', { hasText: text }).first();

  /** Clicks the board at a fraction of its size and writes a bubble there. */
  async function addBubble(page: Page, fx: number, fy: number, text: string): Promise<void> {
    const box = (await page.locator('#board').boundingBox())!;
    await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
    await page.locator('.bubble-editor input[name="text"]').fill(text);
    await page.locator('.bubble-editor input[name="text"]').press('Enter');
    await bubble(page, text).waitFor();
  }

  it('shares bubbles between pages, as text, and explains a refused edit', async () => {
    await ada.locator('#map-title').fill('Plan');
    await ada.locator('#map-title').press('Enter');
    await ada.locator('#status[data-status="connected"]').waitFor();
    await bob.reload();
    await bob.locator('#maps button', { hasText: 'Plan' }).click();
    await bob.locator('#status[data-status="connected"]').waitFor();

    const evil = '<img src=x onerror="window.__pwned=1">idea';
    await addBubble(ada, 0.3, 0.3, evil);
    await bubble(bob, evil).waitFor();
    expect(await bob.locator('#board img').count()).toBe(0);
    expect(await bob.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

    await addBubble(bob, 0.6, 0.6, "bob's");
    await bubble(ada, "bob's").waitFor();
    await bubble(bob, evil).click();
    await expect(bob.locator('#notice').textContent()).resolves.toBe('Only ada or an editor may change this bubble.');
    expect(await bob.locator('.bubble-editor').count()).toBe(0);
    await mkdir(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: `${ARTIFACTS}bubblemap.png` });
  });

  it('closes the map in the other page when it is deleted', async () => {
    await ada.locator('#delete-map').click();
    await bob.locator('#status[data-status="rejected"]').waitFor();
    // Said in words, where an 800 px high window shows it: above the board, not below.
    await expect(bob.locator('#status').textContent()).resolves.toBe('Map deleted');
    await expect(bob.locator('#notice').textContent()).resolves.toBe('This map was deleted: pick another one, or create one.');
    const notice = (await bob.locator('#notice').boundingBox())!;
    expect(notice.y + notice.height).toBeLessThanOrEqual(800);
    expect(await bob.locator('.bubble').count()).toBe(0);
    await bob.screenshot({ path: `${ARTIFACTS}bubblemap-deleted.png` });
    await ada.locator('#status[data-status="rejected"]').waitFor();
    expect(errors).toEqual([]);
  });

  it('shows the sign-in again when a restarted server no longer knows the session (4401)', async () => {
    await ada.locator('#map-title').fill('Again');
    await ada.locator('#map-title').press('Enter');
    await ada.locator('#status[data-status="connected"]').waitFor();
    const port = app.port;
    await app.close();
    await ada.locator('#status[data-status="reconnecting"]').waitFor();
    app = await startApp({ port, sessionSecret: `${TEST_SECRET}-but-another-one` });
    await ada.locator('#login').waitFor();
    await expect(ada.locator('#login-error').textContent()).resolves.toMatch(/^The server no longer knows your session/);
    expect(await ada.locator('#map').isVisible()).toBe(false);
  });
});
