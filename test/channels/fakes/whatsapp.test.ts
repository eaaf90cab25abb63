/**
 * The WhatsApp Cloud API fake itself: the Graph answers a real client would get (here the
 * channel plugin's own Graph client, and plain fetch for malformed calls), the 24-hour window,
 * faults, and the webhook sender's signing, handshake and retries against a small receiver.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChannelError } from '../../../src/channels/kit/index.js';
import { graph, sentId } from '../../../plugins/channel-whatsapp/client.js';
import { whatsappSettings, type WhatsAppSettings } from '../../../plugins/channel-whatsapp/settings.js';
import { WhatsAppFake, WINDOW_MS } from '../../support/fakes/whatsapp.js';

let fake: WhatsAppFake;
let settings: WhatsAppSettings;
let clock: number;
const signal = new AbortController().signal;
const ANN = '4915100000001';

const sendText = (to: string, body: string, extra: Record<string, unknown> = {}) =>
  graph(settings, { method: 'POST', path: `${fake.phoneNumberId}/messages`, body: { messaging_product: 'whatsapp', to, type: 'text', text: { body }, ...extra } }, signal);

async function refusal(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

beforeEach(async () => {
  clock = 1_733_230_000_000;
  fake = new WhatsAppFake({ now: () => clock });
  await fake.start();
  settings = whatsappSettings({ id: 'default', config: { graph_api_root: fake.url, phone_number_id: fake.phoneNumberId, access_token: fake.accessToken } });
  fake.user(ANN, 'Ann');
});

afterEach(() => fake.stop());

describe('WhatsApp fake: Graph API', () => {
  it('sends a text inside the window, answering its wamid, and logs it with its context', async () => {
    const inbound = fake.text(ANN, 'hi');
    const answer = await sendText(ANN, 'hello *Ann*', { context: { message_id: inbound.id } });
    const id = sentId(answer);
    expect(id).toMatch(/^wamid\./);
    expect(answer).toMatchObject({ messaging_product: 'whatsapp', contacts: [{ input: ANN, wa_id: ANN }] });
    expect(fake.sent(ANN)).toEqual([expect.objectContaining({ id, to: ANN, text: 'hello *Ann*', replyTo: inbound.id })]);
  });

  it('refuses a send more than 24 h after the user last wrote with 131047, and one to a stranger with 131026', async () => {
    fake.text(ANN, 'hi');
    clock += WINDOW_MS + 1;
    const late = await refusal(sendText(ANN, 'too late'));
    expect(late).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('only a template message can be sent') });
    fake.text(ANN, 'back again');
    await expect(sendText(ANN, 'welcome back')).resolves.toBeDefined();
    expect((await refusal(sendText('4915199999999', 'who?'))).message).toContain('131026');
    expect(fake.sent().map((m) => m.text)).toEqual(['welcome back']);
  });

  it('counts the 4,096 limit in code points and validates the body', async () => {
    fake.text(ANN, 'hi');
    await expect(sendText(ANN, '😀'.repeat(4096))).resolves.toBeDefined();
    expect((await refusal(sendText(ANN, 'x'.repeat(4097)))).message).toMatch(/between 1 and 4096/);
    expect((await refusal(sendText(ANN, ''))).errorClass).toBe('permanent');
    const raw = await fetch(`${fake.url}/v21.0/${fake.phoneNumberId}/messages`, { method: 'POST', headers: { authorization: `Bearer ${fake.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: ANN, type: 'text', text: { body: 'x' } }) });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ error: { code: 100, message: expect.stringContaining('messaging_product'), fbtrace_id: expect.any(String) } });
  });

  it('takes up to 3 reply buttons of at most 20 characters', async () => {
    fake.text(ANN, 'hi');
    const buttons = (n: number, title = 'OK') => Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: `b${i}`, title: n > 1 ? `${title} ${i}` : title } }));
    const interactive = (list: unknown[]) => graph(settings, { method: 'POST', path: `${fake.phoneNumberId}/messages`, body: { messaging_product: 'whatsapp', to: ANN, type: 'interactive', interactive: { type: 'button', body: { text: 'Pick' }, action: { buttons: list } } } }, signal);
    await expect(interactive(buttons(3))).resolves.toBeDefined();
    expect((await refusal(interactive(buttons(4)))).errorClass).toBe('permanent');
    expect((await refusal(interactive(buttons(1, 'x'.repeat(21))))).errorClass).toBe('permanent');
    expect(fake.sent()[0]?.buttons).toHaveLength(3);
  });

  it("refuses interactive messages out of Meta's limits with #131009, and a missing parameter with #100", async () => {
    fake.text(ANN, 'hi');
    const send = (interactive: unknown) => fetch(`${fake.url}/v21.0/${fake.phoneNumberId}/messages`, { method: 'POST', headers: { authorization: `Bearer ${fake.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ messaging_product: 'whatsapp', to: ANN, type: 'interactive', interactive }) });
    const code = async (interactive: unknown) => ((await (await send(interactive)).json()) as { error?: { code: number; error_data?: { details: string } } }).error;
    const reply = (id: string, title: string) => ({ type: 'reply', reply: { id, title } });
    const rows = (n: number, row: (i: number) => Record<string, unknown> = (i) => ({ id: `r${i}`, title: `Row ${i}` })) => Array.from({ length: n }, (_, i) => row(i));
    const list = (r: unknown[], button = 'Choose', body = 'Pick') => ({ type: 'list', body: { text: body }, action: { button, sections: [{ rows: r }] } });
    expect(await code({ type: 'button', body: { text: 'x'.repeat(1025) }, action: { buttons: [reply('a', 'A')] } })).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('Max length: 1024') } });
    expect(await code({ type: 'button', body: { text: 'Pick' }, action: { buttons: [reply('a', 'A'), reply('a', 'B')] } })).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('Duplicate') } });
    expect(await code({ type: 'button', body: { text: 'Pick' }, action: { buttons: [reply('a', 'A'), reply('b', 'A')] } })).toMatchObject({ code: 131009 });
    expect(await code({ type: 'button', body: { text: 'Pick' } })).toMatchObject({ code: 100 });
    expect(await code(list(rows(11)))).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('max allowed count: 10') } });
    expect(await code(list(rows(1, () => ({ id: 'r', title: 'x'.repeat(25) }))))).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('Max length: 24') } });
    expect(await code(list(rows(1, () => ({ id: 'r', title: 'ok', description: 'd'.repeat(73) }))))).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('Max length: 72') } });
    expect(await code(list(rows(2), 'A label over twenty c'))).toMatchObject({ code: 131009 });
    expect(await code(list(rows(2, () => ({ id: 'same', title: 't' }))))).toMatchObject({ code: 131009 });
    expect(await code({ type: 'list', body: { text: 'Pick' }, action: { button: 'Choose' } })).toMatchObject({ code: 100 });
    expect(fake.sent()).toEqual([]);
    // Within the limits: ten rows, a list body past the buttons' 1,024.
    expect((await send(list(rows(10, (i) => ({ id: `r${i}`, title: 'y'.repeat(24), description: 'd'.repeat(72) })), 'Choose', 'b'.repeat(4096)))).status).toBe(200);
    expect(fake.sent()[0]).toMatchObject({ type: 'interactive', interactive: 'list', listButton: 'Choose', buttons: expect.arrayContaining([expect.objectContaining({ id: 'r9' })]) });
  });

  it('refuses a wrong token (190, 401), a wrong phone number id (100/33) and reads the phone number', async () => {
    fake.text(ANN, 'hi');
    const bad = { ...settings, accessToken: 'EAAwrong' };
    const refused = await refusal(graph(bad, { method: 'GET', path: fake.phoneNumberId }, signal));
    expect(refused).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('access token was refused') });
    expect((await refusal(graph(settings, { method: 'GET', path: '123' }, signal))).message).toContain('#100/33');
    expect(await graph(settings, { method: 'GET', path: fake.phoneNumberId }, signal)).toMatchObject({ id: fake.phoneNumberId, verified_name: 'Pincer Test' });
  });

  it('plays faults: an error with Retry-After, a drop after sending, a reset before', async () => {
    fake.text(ANN, 'hi');
    fake.fault({ kind: 'error', status: 429, code: 130429, retryAfter: 3 });
    expect(await refusal(sendText(ANN, 'a'))).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 3000 });
    fake.fault({ kind: 'drop' });
    expect((await refusal(sendText(ANN, 'b'))).errorClass).toBe('ambiguous');
    fake.fault({ kind: 'reset' });
    expect((await refusal(sendText(ANN, 'c'))).errorClass).toBe('ambiguous');
    // The dropped one was sent; the reset one was not.
    expect(fake.sent().map((m) => m.text)).toEqual(['b']);
    expect(fake.calls.map((c) => c.status)).toEqual([429, 200, 0]);
  });

  it('is transient when nothing listens', async () => {
    const url = fake.url;
    await fake.stop();
    const gone = { ...settings, graphApiRoot: url };
    expect((await refusal(graph(gone, { method: 'GET', path: fake.phoneNumberId }, signal))).errorClass).toBe('transient');
    fake = new WhatsAppFake();
    await fake.start();
  });
});

describe('WhatsApp fake: webhook sender', () => {
  let receiver: FastifyInstance;
  let url = '';
  const got: Array<{ signature: string | undefined; body: string }> = [];
  let refuseNext = 0;

  beforeAll(async () => {
    receiver = Fastify({ logger: false });
    receiver.removeAllContentTypeParsers();
    receiver.addContentTypeParser('*', { parseAs: 'string' }, (_r, body, done) => done(null, body));
    receiver.get('/hook', async (req, reply) => {
      const q = req.query as Record<string, string>;
      if (q['hub.verify_token'] !== 'tok') return reply.code(403).send('no');
      return reply.type('text/plain').send(q['hub.challenge']);
    });
    receiver.post('/hook', async (req, reply) => {
      if (refuseNext > 0) {
        refuseNext--;
        return reply.code(503).send();
      }
      got.push({ signature: req.headers['x-hub-signature-256'] as string | undefined, body: req.body as string });
      return reply.code(200).send('EVENT_RECEIVED');
    });
    url = `${await receiver.listen({ host: '127.0.0.1', port: 0 })}/hook`;
  });

  afterAll(() => receiver.close());

  it('verifies a URL by its challenge', async () => {
    expect(await fake.webhook.verify(url, 'tok')).toMatchObject({ status: 200, ok: true });
    expect(await fake.webhook.verify(url, 'nope')).toMatchObject({ status: 403, ok: false });
  });

  it('signs each notification with the app secret and retries a refusal, in order', async () => {
    fake.webhookUrl = url;
    got.length = 0;
    refuseNext = 2;
    const { payload } = fake.text(ANN, 'hello');
    const delivery = await fake.deliver(payload);
    expect(delivery.attempts.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(delivery.acked).toBe(true);
    expect(got).toHaveLength(1);
    const expected = `sha256=${createHmac('sha256', fake.appSecret).update(got[0]!.body).digest('hex')}`;
    expect(got[0]!.signature).toBe(expected);
    expect(JSON.parse(got[0]!.body)).toMatchObject({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { messages: [{ from: ANN, type: 'text', text: { body: 'hello' } }] } }] }] });
  });

  it("reports every accepted message with sent and delivered statuses that echo its biz_opaque_callback_data, and a failure when scripted", async () => {
    fake.webhookUrl = url;
    got.length = 0;
    fake.text(ANN, 'hi');
    await sendText(ANN, 'tagged', { biz_opaque_callback_data: 'delivery-1.0' });
    fake.fault({ kind: 'fail_status', code: 131026, title: 'Message undeliverable', details: 'the recipient cannot receive it' });
    const failed = sentId(await sendText(ANN, 'accepted, then not delivered'));
    expect(failed).toMatch(/^wamid\./);
    expect((await refusal(sendText(ANN, 'x', { biz_opaque_callback_data: 'r'.repeat(513) }))).errorClass).toBe('permanent');
    await fake.statusesSettled();
    const statuses = got.map((g) => (JSON.parse(g.body) as { entry: Array<{ changes: Array<{ value: { statuses: Array<Record<string, unknown>> } }> }> }).entry[0]!.changes[0]!.value.statuses[0]!);
    const [first, second] = fake.sent();
    expect(statuses.filter((st) => st.id === first!.id).map((st) => [st.status, st.biz_opaque_callback_data])).toEqual([
      ['sent', 'delivery-1.0'],
      ['delivered', 'delivery-1.0'],
    ]);
    expect(statuses.find((st) => st.id === first!.id && st.status === 'sent')).toMatchObject({ recipient_id: ANN, conversation: { origin: { type: 'service' } }, pricing: { category: 'service' } });
    const failure = statuses.filter((st) => st.id === second!.id);
    expect(failure).toEqual([expect.objectContaining({ status: 'failed', errors: [expect.objectContaining({ code: 131026, title: 'Message undeliverable', error_data: { details: 'the recipient cannot receive it' } })] })]);
    expect(failure[0]).not.toHaveProperty('biz_opaque_callback_data');
    // Only status webhooks carry it: the send's own answer does not.
    expect(JSON.stringify(fake.calls[0])).toContain('delivery-1.0');
  });

  it('gives up after maxAttempts', async () => {
    fake.webhookUrl = url;
    refuseNext = 5;
    const delivery = await fake.deliver(fake.status('wamid.X', 'read'), { maxAttempts: 2 });
    expect(delivery).toMatchObject({ acked: false, attempts: [{ status: 503 }, { status: 503 }] });
    refuseNext = 0;
  });
});
