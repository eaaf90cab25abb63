/**
 * The sender's time zone, from the web chat's browser to the first-party current_time tool:
 * the widget's POST carries `timeZone`, the ingress keeps it (checked with Intl) on the
 * message, the tool loop hands it to the tool as `senderTimeZone`, and the tool answers in it
 * when the model names no zone. The model is the built-in one (no language model configured),
 * routing "what time is it" to current_time by the tool's examples.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPincer } from '../support/index.js';
import { postJson } from '../support/index.js';
import { readSse } from '../support/sse.js';
import { openSession, startWithConfig } from '../support/webchat.js';

const SHOP = 'https://shop.example';
let bot: RunningPincer;

beforeAll(async () => {
  bot = await startWithConfig(
    `
channels:
  webchat:
    accounts:
      default:
        allowed_origins: ["${SHOP}"]
plugins:
  config:
    tools: { time_zone: Europe/Berlin }
`,
    { PINCER_PLUGINS_ENABLED: 'tools' },
  );
});
afterAll(async () => {
  await bot?.close();
});

/** A new visitor's message and the reply it got. */
async function ask(text: string, timeZone?: string): Promise<string | undefined> {
  const { token } = (await openSession(bot.url, 'default', SHOP)).body as { token: string };
  const headers = { authorization: `Bearer ${token}`, origin: SHOP };
  const sent = await postJson(`${bot.url}/v1/webchat/default/messages`, { text, ...(timeZone !== undefined ? { timeZone } : {}) }, headers);
  expect(sent.status).toBe(202);
  const events = await readSse(await fetch(`${bot.url}/v1/webchat/default/messages/${sent.body.id}/events`, { headers }));
  return events.find((e) => e.event === 'reply')?.data.text;
}

describe("current_time in the sender's time zone", () => {
  it("answers in the browser's zone when the message names none", async () => {
    expect(await ask('what time is it?', 'Asia/Tokyo')).toMatch(/^It is \d\d:\d\d on \w+day, \d{4}-\d\d-\d\d \(Asia\/Tokyo\)\.$/);
  });

  it('answers in the zone the message names, over the browser\'s', async () => {
    expect(await ask('what time is it in New York', 'Asia/Tokyo')).toMatch(/\(America\/New_York\)\.$/);
  });

  it("falls back to the plugin's zone without a browser zone, or with one Intl does not know", async () => {
    expect(await ask('what time is it')).toMatch(/\(Europe\/Berlin\)\.$/);
    expect(await ask('what time is it', 'Mars/Olympus')).toMatch(/\(Europe\/Berlin\)\.$/);
  });
});
