import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PINCER_ROOT } from '../../src/version.js';
import { GatedOpenAI } from '../support/fakes/gated-openai.js';
import type { RunningPincer } from '../support/index.js';
import { startWithConfig } from '../support/webchat.js';

/**
 * The web chat widget in a real headless Chromium, embedded in a shop's page on another origin
 * than the bot's (a second server on 127.0.0.1), answered by a model that streams its reply
 * and holds the last word until the test lets it go. Screenshots go to test-results/webchat/.
 */

const CHROMIUM = process.env.PINCER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(PINCER_ROOT, 'test-results', 'webchat');
const WAIT = { timeout: 15_000 };

let browser: Browser;
let model: GatedOpenAI;
let bot: RunningPincer;
const sites: FastifyInstance[] = [];
let shop = '';
let stranger = '';

/**
 * A site's page that embeds the widget; its CSS tries to hide every button, input and list.
 * The page is written per request, so the site can listen before the bot (whose config names
 * the site's origin) starts.
 */
async function site(): Promise<string> {
  const app = Fastify();
  app.get('/', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<style>button, input, ol, li, section { display: none !important; } body { font: 40px serif; color: red; }</style></head>
<body><h1>Welcome to the shop</h1>
<script src="${bot.url}/widget.js" data-account="default" async></script>
</body></html>`),
  );
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  await app.listen({ port: 0, host: '127.0.0.1' });
  sites.push(app);
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  model = await GatedOpenAI.start();
  [shop, stranger] = await Promise.all([site(), site()]);
  bot = await startWithConfig(`
models:
  default: [ { provider: openai-compatible, base_url: "${model.url}/v1", model: gated } ]
channels:
  webchat:
    accounts:
      default:
        allowed_origins: ["${shop}"]
        rate: "2/min"
        title: Shop help
        greeting: "Hi! How can I help?"
`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(sites.map((s) => s.close()));
  await bot?.close();
  await model?.close();
});

function watchErrors(page: Page, allow: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !allow.some((re) => re.test(msg.text()))) errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

/** What the widget keeps in the site's localStorage, under the bot's origin and the account. */
function storedSession(page: Page): Promise<string | null> {
  return page.evaluate((key) => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem(key), `pincer-webchat:${bot.url}:default`);
}

async function openWidget(page: Page, origin: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByRole('button', { name: /^Open chat/ }).click(WAIT);
}

describe('the web chat widget in Chromium', () => {
  it('chats from a page of another origin: the reply streams, then is final; the history survives a reload', async () => {
    // The visitor's browser is in Tokyo: the widget sends its zone with each message.
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, timezoneId: 'Asia/Tokyo' });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await openWidget(page, shop);
    await page.locator('section.panel[data-state="ready"]').waitFor(WAIT);
    // The site's CSS hides every button, input and list of its own: not the widget's.
    const input = page.getByRole('textbox', { name: 'Your message' });
    expect(await input.isVisible()).toBe(true);
    expect(await page.locator('li.bot[data-state="greeting"]').textContent()).toBe('Hi! How can I help?');
    expect(await page.getByRole('dialog', { name: 'Shop help' }).isVisible()).toBe(true);
    // The input has the focus once the panel opens: typing and Enter send.
    await page.keyboard.type('where is my order?');
    await page.keyboard.press('Enter');

    const reply = GatedOpenAI.reply('where is my order?');
    const lastWord = reply.split(' ').at(-1)!;
    const streaming = page.locator('li.bot[data-state="streaming"]');
    await streaming.filter({ hasText: 'Hello from the' }).waitFor(WAIT);
    // The model holds its last word: what shows is the reply so far (the tokens the worker
    // streamed before the page's stream opened come first, as one).
    expect(model.held).toBe(1);
    const partial = (await streaming.textContent()) ?? '';
    expect(partial).toMatch(/^Hello from the model: where is my ?$/);
    expect(partial).not.toContain(lastWord);
    await page.screenshot({ path: path.join(SHOTS, '01-streaming.png') });

    model.release();
    const done = page.locator('li.bot[data-state="done"]');
    await done.waitFor(WAIT);
    expect(await done.textContent()).toBe(reply.replace(/\*\*/g, ''));
    // The model's Markdown, rendered safely: **model** is bold.
    expect(await done.locator('strong').textContent()).toBe('model');
    await page.screenshot({ path: path.join(SHOTS, '02-done.png') });

    // The session is remembered per bot origin and account in the site's localStorage.
    const saved = await storedSession(page);
    const conversationId = JSON.parse(saved ?? '{}').conversationId as string;
    expect(conversationId).toMatch(/^webchat:default:v_/);
    // ... kept on the message as its sender's, for tools (current_time) to answer in.
    const stored = (await (await fetch(`${bot.url}/v1/conversations/${encodeURIComponent(conversationId)}`)).json()) as { messages: Array<{ metadata: { channel: { sender: unknown } } }> };
    expect(stored.messages.map((m) => m.metadata.channel.sender)).toEqual([expect.objectContaining({ timeZone: 'Asia/Tokyo' })]);

    await page.reload();
    // The launcher is named by the chat's title, remembered from the last session.
    await page.getByRole('button', { name: 'Open chat: Shop help' }).click(WAIT);
    await page.locator('section.panel[data-state="ready"]').waitFor(WAIT);
    await page.locator('li.me', { hasText: 'where is my order?' }).waitFor(WAIT);
    expect(await page.locator('li.bot[data-state="done"]').textContent()).toBe(reply.replace(/\*\*/g, ''));
    expect(await page.locator('li.me').count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, '03-reloaded.png') });
    expect(errors).toEqual([]);
    await context.close();
  });

  it("renders the model's output as text: no markup runs, only safe links", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = watchErrors(page, [/429/]);
    await openWidget(page, shop);
    await page.locator('section.panel[data-state="ready"]').waitFor(WAIT);
    const hostile = '<img src=x onerror="window.pwned=1"> [docs](https://example.com/docs) [bad](javascript:window.pwned=2) `code`';
    await page.getByRole('textbox', { name: 'Your message' }).fill(hostile);
    await page.getByRole('textbox', { name: 'Your message' }).press('Enter');
    await page.locator('li.bot[data-state="streaming"]').waitFor(WAIT);
    model.release();
    const done = page.locator('li.bot[data-state="done"]');
    await done.waitFor(WAIT);
    expect(await done.textContent()).toContain('<img src=x onerror="window.pwned=1">');
    expect(await page.locator('li.bot img').count()).toBe(0);
    const links = done.locator('a');
    expect(await links.count()).toBe(1);
    expect(await links.getAttribute('href')).toBe('https://example.com/docs');
    expect(await links.getAttribute('rel')).toContain('noopener');
    expect(await done.locator('code').textContent()).toBe('code');
    expect(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned)).toBeUndefined();

    // This visitor's third message in a minute: the rate (2/min) is shown with its wait.
    for (const text of ['one more', 'and one too many']) {
      await page.getByRole('textbox', { name: 'Your message' }).fill(text);
      await page.getByRole('textbox', { name: 'Your message' }).press('Enter');
    }
    const notice = page.locator('p.notice[data-kind="error"]');
    await notice.filter({ hasText: /too quickly\. Please wait \d+ seconds/ }).waitFor(WAIT);
    expect(await page.locator('li.bot[data-state="failed"]').count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, '04-rate-limited.png') });
    // The second message was taken: its reply comes once the model lets it go.
    await page.locator('li.bot[data-state="streaming"]').waitFor(WAIT);
    model.release();
    await page.locator('li.bot[data-state="done"]').nth(1).waitFor(WAIT);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows the refusal on a page of an origin the account does not allow', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = watchErrors(page, [/403/]);
    await openWidget(page, stranger);
    await page.locator('section.panel[data-state="refused"]').waitFor(WAIT);
    expect(await page.locator('p.notice').textContent()).toBe('This chat is not available on this website.');
    expect(await page.getByRole('textbox', { name: 'Your message' }).isDisabled()).toBe(true);
    expect(await storedSession(page)).toBeNull();
    await page.screenshot({ path: path.join(SHOTS, '05-refused.png') });
    expect(errors).toEqual([]);
    await context.close();
  });
});
