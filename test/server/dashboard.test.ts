import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/server/dashboard/routes.js';
import { PINCER_ROOT } from '../../src/version.js';
import { startPincer, type RunningPincer } from '../support/index.js';

/**
 * The built-in dashboard in a real headless Chromium (Debian's `chromium`, which
 * .ci/system-deps installs), driven by playwright-core. Screenshots of each step go to
 * test-results/dashboard/ (git-ignored).
 */

const CHROMIUM = process.env.PINCER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(PINCER_ROOT, 'test-results', 'dashboard');
const PLUGINS = { PINCER_PLUGINS_ENABLED: 'commands,sentiment,language' };
const TOKEN = 'dashboard-test-token';

let browser: Browser;
let running: RunningPincer | undefined;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** Console errors and uncaught page errors; `allow` lists expected ones (a 401 before sign-in). */
function watchErrors(page: Page, allow: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = `${msg.text()} (${msg.location().url})`;
    if (!allow.some((re) => re.test(text))) errors.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => {
    // A chat event stream the page cancels after `end` is not a failure.
    if (!req.url().endsWith('/events')) errors.push(`requestfailed: ${req.url()} ${req.failure()?.errorText ?? ''}`);
  });
  return errors;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return context.newPage();
}

// Conditions are awaited with locators on data attributes the page keeps for this (no DOM types here).
const live = (page: Page) => page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });

/** Type a message, wait until its reply is complete (or failed); the two bubbles' texts and data. */
async function chat(page: Page, text: string): Promise<{ reply: string; state: string; sentiment?: string; language?: string; analysis: string }> {
  const before = await page.locator('#chat-log li.bot').count();
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
  const bot = page.locator('#chat-log li.bot').nth(before);
  const me = page.locator('#chat-log li.me').nth(before);
  await bot.and(page.locator('[data-state="done"], [data-state="failed"]')).waitFor({ timeout: 15_000 });
  return {
    reply: (await bot.locator('.text').textContent()) ?? '',
    state: (await bot.getAttribute('data-state')) ?? '',
    sentiment: (await me.getAttribute('data-sentiment')) ?? undefined,
    language: (await me.getAttribute('data-language')) ?? undefined,
    analysis: (await me.locator('.analysis').textContent()) ?? '',
  };
}

/** `count` POSTs, `parallel` at a time, as a client under load would send them. */
async function burst(url: string, count: number, parallel = 20, headers: Record<string, string> = {}, conversations = 50): Promise<void> {
  let next = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const res = await fetch(`${url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ text: `/echo load ${i}`, conversationId: `load-${i % conversations}` }),
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  expect(statuses.filter((s) => s !== 202)).toEqual([]);
}

describe('dashboard', () => {
  it('serves the page shell publicly with content types, no-cache, an etag and a strict CSP', async () => {
    running = await startPincer({ PINCER_API_TOKENS: TOKEN });
    const expected: Array<[string, string]> = [
      ['/', 'text/html'],
      ['/dashboard/dashboard.css', 'text/css'],
      ['/dashboard/dashboard.js', 'text/javascript'],
      ['/dashboard/favicon.svg', 'image/svg+xml'],
    ];
    for (const [route, type] of expected) {
      const res = await fetch(running.url + route);
      expect(res.status, route).toBe(200);
      expect(res.headers.get('content-type'), route).toContain(type);
      expect(res.headers.get('cache-control'), route).toBe('no-cache');
      expect(res.headers.get('content-security-policy'), route).toBe(DASHBOARD_CSP);
      const etag = res.headers.get('etag');
      expect(etag, route).toBeTruthy();
      expect((await res.text()).length, route).toBeGreaterThan(100);
      const again = await fetch(running.url + route, { headers: { 'if-none-match': etag! } });
      expect(again.status, route).toBe(304);
    }
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    // The data is not public.
    expect((await fetch(`${running.url}/v1/stats`)).status).toBe(401);
  });

  it('renders live stats, round-trips chat with analysis, and charts follow load', async () => {
    running = await startPincer(PLUGINS);
    const page = await newPage();
    const errors = watchErrors(page);
    await page.goto(`${running.url}/`);
    await live(page);
    expect(await page.locator('#auth').isHidden()).toBe(true);
    // The history fills the charts and the tables list the enabled plugins.
    await page.locator('#chart-cpu:not([data-latest=""])').waitFor();
    await page.locator('#plugins tbody tr', { hasText: 'sentiment' }).waitFor();
    expect(await page.locator('#plugins tbody').textContent()).toContain('language');
    // No chat account is configured here: the channels table says so (it comes with /v1/stats, no admin token needed).
    await page.locator('#channels tbody', { hasText: 'no channel accounts configured' }).waitFor();
    expect(await page.locator('#updated').textContent()).not.toBe('never');
    await shot(page, '01-open-loaded');

    const echo = await chat(page, '/echo hello');
    expect(echo.state).toBe('done');
    expect(echo.reply).toContain('hello');

    const free = await chat(page, 'I love this bot, it is really helpful and friendly');
    expect(free.state).toBe('done');
    expect(free.reply.length).toBeGreaterThan(0);
    expect(free.sentiment).toBe('positive');
    expect(free.language).toBe('en');
    expect(free.analysis).toMatch(/sentiment: positive .*language: English \(en/);
    await shot(page, '02-open-chat');

    // Load arrives: the messages/s chart's newest sample rises above 0 while it is processed.
    const rises = expect
      .poll(() => page.locator('#chart-rate').getAttribute('data-latest'), { timeout: 30_000, interval: 50 })
      .toSatisfy((latest) => Number(latest) > 0);
    // One conversation is answered one message at a time, each after the last one's commit, so
    // the burst is sure to wait in the queue long enough for the one-second sample to see it.
    await burst(running.url, 300, 20, {}, 1);
    await rises;
    await page.locator('#chart-queue:not([data-peak="0"])').waitFor();
    await shot(page, '03-open-under-load');
    // ... and the queue chart follows it back down once the burst is answered.
    await page.locator('#chart-queue[data-latest="0"]').waitFor({ timeout: 30_000 });
    await shot(page, '04-open-after-load');

    // Dark scheme and a phone-sized viewport: the layout stacks, the charts redraw.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 420, height: 900 });
    const shown = await page.locator('#updated').getAttribute('datetime');
    await page.locator(`#updated:not([datetime="${shown}"])`).waitFor();
    await shot(page, '05-open-dark-narrow');

    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('asks for a token when the API needs one, then shows the dashboard and chats', async () => {
    running = await startPincer({ ...PLUGINS, PINCER_API_TOKENS: TOKEN });
    const page = await newPage();
    // Chromium logs the 401s that make the page ask for a token; nothing else may fail.
    const errors = watchErrors(page, [/status of 401 .*\/v1\/stats\)$/]);
    await page.goto(`${running.url}/`);
    await page.locator('#auth-form').waitFor();
    expect(await page.locator('#main').isHidden()).toBe(true);
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('auth');
    await shot(page, '10-auth-form');

    // A wrong token is refused and the form says so.
    await page.fill('#token', 'wrong-token');
    await page.press('#token', 'Enter');
    await page.locator('#auth-error', { hasText: 'not accepted' }).waitFor();
    await shot(page, '11-auth-rejected');

    await page.fill('#token', TOKEN);
    await page.press('#token', 'Enter');
    await live(page);
    expect(await page.locator('#auth').isHidden()).toBe(true);
    expect(await page.evaluate<string | null>("localStorage.getItem('pincer.token')")).toBe(TOKEN);
    const echo = await chat(page, '/echo hello');
    expect(echo.reply).toContain('hello');
    await shot(page, '12-auth-signed-in');

    // The token is remembered: a reload goes straight to the dashboard.
    await page.reload();
    await live(page);
    expect(await page.locator('#auth').isHidden()).toBe(true);
    // The conversation of this tab is restored from the API.
    await page.locator('#chat-log li.bot', { hasText: 'hello' }).waitFor();

    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);
});
