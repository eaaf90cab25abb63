/**
 * WhatsApp beyond the conformance suite, against the Cloud API fake with the channel-whatsapp
 * plugin in its thread: the webhook handshake through Pincer's route, signatures, replies
 * quoting the user's message, the 24-hour window, a refused token; status webhooks shown on
 * the delivery rows and resolving a held send; reply buttons and lists, and their presses.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import type { Pincer } from '../../src/pincer.js';
import type { Responder } from '../../src/pipeline/types.js';
import type { DeliveryRecord } from '../../src/store/types.js';
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

async function boot(account: JsonObject = {}, setup?: (pincer: Pincer) => void): Promise<RunningPincer> {
  const settings = { phone_number_id: fake.phoneNumberId, access_token: fake.accessToken, app_secret: fake.appSecret, verify_token: 'the-verify-token', dm_policy: 'open', ...account };
  running = await startChannelPincer({ channels: { whatsapp: { graph_api_root: fake.url, transport: 'webhook', accounts: { default: settings } } }, ...(setup && { setup }) });
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

});

/** The one delivery to `user`, once `ready` holds for it. */
async function deliveryTo(p: RunningPincer, user: string, ready: (d: DeliveryRecord) => boolean, what: string): Promise<DeliveryRecord> {
  const rows = await eventually(async () => (await p.pincer.store.channels.listDeliveries({ limit: 500, channel: 'whatsapp' })).filter((d) => d.lane === `whatsapp:default:${user}`), (r) => r.length === 1 && ready(r[0]!), 20_000, what);
  return rows[0]!;
}

async function metric(p: RunningPincer, line: string): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('whatsapp: delivery receipts', () => {
  it('shows the statuses Meta reports on the delivery, in the admin API, without making messages of them', async () => {
    const p = await boot();
    const user = newUser();
    await fake.deliver(fake.text(user, 'hi').payload);
    const [sent] = await eventually(() => fake.sent(user), (s) => s.length === 1, 20_000, 'the reply');
    // The fake reports sent and delivered on its own, as Meta does, echoing the part's id.
    const row = await deliveryTo(p, user, (d) => d.receipt?.status === 'delivered', 'the delivered receipt');
    expect(sent!.reference).toBe(`${row.id}.0`);
    expect(row).toMatchObject({ state: 'sent', receipts: [sent!.id], receipt: { status: 'delivered', error: null } });
    expect((await fake.deliver(fake.status(sent!.id, 'read'))).acked).toBe(true);
    const read = await p.pincer.store.channels.getDelivery(row.id);
    expect(read?.receipt?.status).toBe('read');
    const listed = await getJson(`${p.url}/v1/admin/channels/deliveries?channel=whatsapp&limit=500`);
    const view = (listed.body.deliveries as Array<{ id: string; receipt: unknown }>).find((d) => d.id === row.id);
    expect(view?.receipt).toEqual({ status: 'read', at: new Date(read!.receipt!.at).toISOString(), error: null });
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`whatsapp:default:${user}`)}`);
    expect(conversation.body.messages).toHaveLength(1);
    expect(await metric(p, 'pincer_channel_receipts_total{channel="whatsapp",status="read",match="recorded"}')).toBeGreaterThanOrEqual(1);
  });

  it('ignores a status of a message Pincer did not send, counting it', async () => {
    const p = await boot();
    const user = newUser();
    const before = await metric(p, 'pincer_channel_receipts_total{channel="whatsapp",status="delivered",match="unknown"}');
    // No biz_opaque_callback_data (sent by another tool), and one naming no delivery.
    const foreign = fake.status(fake.wamid(), 'delivered');
    const forged = fake.notification({ statuses: [{ id: fake.wamid(), status: 'delivered', timestamp: '1733230000', recipient_id: user, biz_opaque_callback_data: 'no-such-delivery.0' }] });
    expect((await fake.deliver(foreign)).attempts).toEqual([expect.objectContaining({ status: 200 })]);
    expect((await fake.deliver(forged)).attempts).toEqual([expect.objectContaining({ status: 200 })]);
    expect(await metric(p, 'pincer_channel_receipts_total{channel="whatsapp",status="delivered",match="unknown"}')).toBe(before + 2);
  });

  it('shows a failed status on its delivery with the reason, the 24-hour one saying only a template may be sent', async () => {
    const p = await boot();
    const user = newUser();
    fake.fault({ kind: 'fail_status', code: 131026, title: 'Message undeliverable', details: 'Unable to deliver message.' });
    await fake.deliver(fake.text(user, 'one').payload);
    const undeliverable = await deliveryTo(p, user, (d) => d.receipt?.status === 'failed', 'the failed receipt');
    expect(undeliverable).toMatchObject({ state: 'sent', receipt: { status: 'failed', error: '#131026 Message undeliverable: Unable to deliver message.' } });

    const late = newUser();
    fake.fault({ kind: 'fail_status', code: 131047, title: 'Re-engagement message', details: 'More than 24 hours have passed since the recipient last replied.' });
    await fake.deliver(fake.text(late, 'two').payload);
    const outside = await deliveryTo(p, late, (d) => d.receipt?.status === 'failed', 'the failed receipt');
    expect(outside.receipt?.error).toMatch(/^more than 24 h since the user's last message: only a template message can be sent \(#131047 Re-engagement message/);
    const listed = await getJson(`${p.url}/v1/admin/channels/deliveries?channel=whatsapp&limit=500`);
    expect((listed.body.deliveries as Array<{ id: string; receipt: { error: string } | null }>).find((d) => d.id === outside.id)?.receipt?.error).toContain('only a template message can be sent');
    expect(await metric(p, 'pincer_channel_receipts_total{channel="whatsapp",status="failed",match="recorded"}')).toBeGreaterThanOrEqual(2);
  });

  it('takes a late status as proof that a send whose answer was lost arrived: the reply goes on, no part twice', async () => {
    const p = await boot();
    const user = newUser();
    const statuses = fake.statuses;
    fake.statuses = [];
    try {
      // The first of three parts is accepted, then the connection is cut before the answer.
      fake.fault({ kind: 'drop' });
      await fake.deliver(fake.text(user, 'long:9000').payload);
      const held = await deliveryTo(p, user, (d) => d.state === 'ambiguous', 'the held delivery');
      expect(held).toMatchObject({ nextPart: 0, receipts: [] });
      const [first] = fake.sent(user);
      expect(first?.reference).toBe(`${held.id}.0`);
      expect((await fake.deliver(fake.status(first!.id, 'delivered'))).acked).toBe(true);
      const done = await deliveryTo(p, user, (d) => d.state === 'sent', 'the resolved delivery');
      const parts = fake.sent(user);
      expect(parts.length).toBeGreaterThanOrEqual(3);
      expect(done.receipts).toEqual(parts.map((m) => m.id));
      expect(new Set(parts.map((m) => m.text)).size).toBe(parts.length);
      expect(fake.calls.filter((c) => c.to === user)).toHaveLength(parts.length);
      expect(parts.map((m) => m.reference)).toEqual(parts.map((_, i) => `${held.id}.${i}`));
      expect(await metric(p, 'pincer_channel_receipts_total{channel="whatsapp",status="delivered",match="resolved"}')).toBeGreaterThanOrEqual(1);
    } finally {
      fake.statuses = statuses;
    }
  });
});

/** A responder for `menu:<n>[:long]`: a reply with n buttons whose values run /echo. */
const menu: Responder = {
  name: 'menu',
  order: 40,
  respond(ctx) {
    const m = /^menu:(\d+)(:long)?$/.exec(ctx.message.text);
    if (!m) return undefined;
    const labels = Array.from({ length: Number(m[1]) }, (_, i) => (i === 0 ? 'The first choice, with a label too long for a button' : `Choice ${i}`));
    const text = m[2] ? Array.from({ length: 40 }, (_, i) => `Line ${i} of a long question.`).join(' ') : 'Pick **one**';
    return { text, data: { buttons: labels.map((label, i) => ({ label, value: `/echo chose ${i}` })) } };
  },
};

describe('whatsapp: buttons', () => {
  const bootWithMenu = () => boot({}, (pincer) => pincer.registry.addResponder(menu));

  it('sends up to 3 as reply buttons; pressing one runs its value', async () => {
    await bootWithMenu();
    const user = newUser();
    await fake.deliver(fake.text(user, 'menu:3').payload);
    const [asked] = await eventually(() => fake.sent(user), (s) => s.length === 1, 20_000, 'the question');
    expect(asked).toMatchObject({ type: 'interactive', interactive: 'button', text: 'Pick *one*' });
    expect(asked!.buttons).toEqual([
      { id: '/echo chose 0', title: 'The first choice, w…' },
      { id: '/echo chose 1', title: 'Choice 1' },
      { id: '/echo chose 2', title: 'Choice 2' },
    ]);
    await fake.deliver(fake.buttonReply(user, '/echo chose 2', 'Choice 2', asked!.id).payload);
    expect((await eventually(() => fake.sent(user), (s) => s.length === 2, 20_000, 'the answer to the press'))[1]!.text).toBe('chose 2');
  });

  it('sends 4 to 10 as a list; choosing a row runs its value', async () => {
    await bootWithMenu();
    const user = newUser();
    await fake.deliver(fake.text(user, 'menu:6').payload);
    const [asked] = await eventually(() => fake.sent(user), (s) => s.length === 1, 20_000, 'the list');
    expect(asked).toMatchObject({ interactive: 'list', listButton: 'Choose' });
    expect(asked!.buttons).toHaveLength(6);
    expect(asked!.buttons![0]).toEqual({ id: '/echo chose 0', title: 'The first choice, with …', description: 'The first choice, with a label too long for a button' });
    await fake.deliver(fake.listReply(user, '/echo chose 4', 'Choice 4', undefined, asked!.id).payload);
    expect((await eventually(() => fake.sent(user), (s) => s.length === 2, 20_000, 'the answer to the choice'))[1]!.text).toBe('chose 4');
  });

  it('cuts a question over 1,024 characters so the buttons come with a body that fits', async () => {
    await bootWithMenu();
    const user = newUser();
    await fake.deliver(fake.text(user, 'menu:2:long').payload);
    const sent = await eventually(() => fake.sent(user), (s) => s.some((m) => m.type === 'interactive'), 20_000, 'the question');
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.slice(0, -1).every((m) => m.type === 'text')).toBe(true);
    expect([...sent.at(-1)!.text].length).toBeLessThanOrEqual(1024);
    expect(sent.map((m) => m.text).join(' ')).toContain('Line 39 of a long question.');
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
