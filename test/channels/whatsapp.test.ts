/**
 * WhatsApp beyond the conformance suite, against the Cloud API fake with the channel-whatsapp
 * plugin in its thread: the webhook handshake through Pincer's route, signatures, receipts,
 * replies quoting the user's message, the 24-hour window, a refused token.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import { deliveriesIn, startChannelPincer } from '../support/channels.js';
import { WhatsAppFake, WINDOW_MS } from '../support/fakes/whatsapp.js';
import { eventually, getJson, type RunningPincer } from '../support/index.js';

const fake = new WhatsAppFake();
let running: RunningPincer | undefined;

beforeAll(() => fake.start());
afterAll(() => fake.stop());
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function boot(account: JsonObject = {}): Promise<RunningPincer> {
  const settings = { phone_number_id: fake.phoneNumberId, access_token: fake.accessToken, app_secret: fake.appSecret, verify_token: 'the-verify-token', dm_policy: 'open', ...account };
  running = await startChannelPincer({ channels: { whatsapp: { graph_api_root: fake.url, transport: 'webhook', accounts: { default: settings } } } });
  fake.webhookUrl = `${running.url}/v1/channels/whatsapp/default/webhook`;
  await eventually(() => running?.pincer.channels.list().find((a) => a.account === 'default')?.state, (s) => s === 'webhook' || s === 'unavailable', 20_000, 'whatsapp to start');
  return running;
}

let nextUser = 4915200000000;
const newUser = (): string => fake.user(String(nextUser++), 'Ann').waId;

describe('whatsapp: webhook', () => {
  it("answers Meta's handshake with the challenge as text, and 403 to a wrong verify token", async () => {
    await boot();
    expect(await fake.webhook.verify(fake.webhookUrl, 'the-verify-token')).toMatchObject({ status: 200, ok: true });
    const good = await fetch(`${fake.webhookUrl}?hub.mode=subscribe&hub.verify_token=the-verify-token&hub.challenge=42`);
    expect([good.status, good.headers.get('content-type'), await good.text()]).toEqual([200, 'text/plain; charset=utf-8', '42']);
    const wrong = await fetch(`${fake.webhookUrl}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=42`);
    expect(wrong.status).toBe(403);
  });

  it('refuses a forged or unsigned call (401) and commits nothing; the genuine call is answered', async () => {
    const p = await boot();
    const user = newUser();
    const { payload } = fake.text(user, 'forged');
    const body = JSON.stringify(payload);
    expect(await fake.webhook.post(fake.webhookUrl, body, 'sha256=' + '0'.repeat(64))).toBe(401);
    expect(await fake.webhook.post(fake.webhookUrl, body, null)).toBe(401);
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`whatsapp:default:${user}`)}`);
    expect(conversation.body.messages ?? []).toEqual([]);
    const delivery = await fake.deliver(payload);
    expect(delivery.acked).toBe(true);
    expect((await eventually(() => fake.sent(user), (s) => s.length === 1, 20_000, 'the reply')).map((m) => m.text)).toEqual(['re: forged']);
  });

  it('acknowledges delivery receipts without making messages of them', async () => {
    const p = await boot();
    const user = newUser();
    await fake.deliver(fake.text(user, 'hi').payload);
    const [sent] = await eventually(() => fake.sent(user), (s) => s.length === 1, 20_000, 'the reply');
    for (const status of ['sent', 'delivered', 'read'] as const) expect((await fake.deliver(fake.status(sent!.id, status))).attempts).toEqual([expect.objectContaining({ status: 200 })]);
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`whatsapp:default:${user}`)}`);
    expect(conversation.body.messages).toHaveLength(1);
  });
});

describe('whatsapp: replies', () => {
  it('quotes the user message in the first part only, in WhatsApp markup', async () => {
    const p = await boot();
    const user = newUser();
    const { id, payload } = fake.text(user, 'long:9000');
    await fake.deliver(payload);
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'whatsapp'), (d) => d.length === 1, 20_000, 'the long reply');
    const parts = fake.sent(user);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.map((m) => m.replyTo)).toEqual([id, ...parts.slice(1).map(() => undefined)]);
    expect(parts[0]!.text).toContain('_something_');
    expect(parts.every((m) => m.previewUrl === false)).toBe(true);
  });

  it('a reply after the 24-hour window is dead with the reason, not retried', async () => {
    const p = await boot();
    const user = newUser();
    const { payload } = fake.text(user, 'late');
    // The user's last message is older than a day by the time the reply goes out.
    fake.users.get(user)!.lastInboundAt = fake.now() - WINDOW_MS - 60_000;
    await fake.deliver(payload);
    const [dead] = await eventually(() => deliveriesIn(p.pincer, 'dead', 'whatsapp'), (d) => d.length === 1, 20_000, 'the dead delivery');
    expect(dead).toMatchObject({ errorClass: 'permanent', lastError: expect.stringContaining('only a template message can be sent') });
    expect(fake.calls.filter((c) => c.to === user)).toHaveLength(1);
  });

  it('a refused access token makes the account unavailable at connect, with a hint', async () => {
    const p = await boot({ access_token: 'EAArevoked' });
    const status = p.pincer.channels.list().find((a) => a.account === 'default');
    expect(status?.state).toBe('unavailable');
    expect(status?.detail).toMatch(/access token was refused/);
    const ready = await getJson(`${p.url}/ready`);
    expect(ready.body.checks['channel.whatsapp.default']).toMatch(/^unavailable/);
  });
});
