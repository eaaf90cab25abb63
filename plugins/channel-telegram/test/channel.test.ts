import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelAccount, ChannelIngestIO, ChannelSpec, ChannelTarget, InboundEvent, JsonObject, PluginLogger } from 'pincer/plugin';
import { TelegramFake, type FakeChat, type FakeUser } from '../../../test/support/fakes/telegram.js';
import { createTelegramChannel } from '../channel.js';
import { classOf } from '../../../test/support/channel-errors.js';

let fake: TelegramFake;
let channel: ChannelSpec;
let alice: FakeUser;
let dm: FakeChat;
let group: FakeChat;
let warnings: string[];

const log: PluginLogger = {
  debug: () => {},
  info: () => {},
  warn: (msg) => warnings.push(msg),
  error: (msg) => warnings.push(msg),
};

function account(extra: JsonObject = {}): ChannelAccount {
  return { id: 'default', config: { token: fake.token, api_root: fake.url, poll_timeout: 1, ...extra } };
}

const direct: ChannelTarget = { conversation: { kind: 'direct', id: '42' } };

/** Waits for a condition the code under test brings about (no fixed sleeps). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

beforeEach(async () => {
  warnings = [];
  fake = new TelegramFake({ limits: false });
  await fake.start();
  channel = createTelegramChannel({ log, backoff: { initialMs: 10, maxMs: 40 } });
  alice = fake.user({ id: 42, first_name: 'Alice', username: 'alice' });
  dm = fake.privateChat(alice);
  group = fake.group({ id: -100500, title: 'Readers' });
});

afterEach(async () => {
  await fake.stop();
});

interface Recorder extends ChannelIngestIO {
  batches: InboundEvent[][];
  fatals: Array<{ detail: string; hint?: string }>;
}

function recorder(ingest?: (events: InboundEvent[]) => Promise<void>): Recorder {
  const io: Recorder = {
    batches: [],
    fatals: [],
    async ingest(events) {
      if (ingest !== undefined) await ingest(events);
      io.batches.push(events);
    },
    async cursor() {
      return null;
    },
    fatal(detail, hint) {
      io.fatals.push({ detail, ...(hint !== undefined ? { hint } : {}) });
    },
  };
  return io;
}

const events = (io: Recorder): InboundEvent[] => io.batches.flat();

describe('telegram poll loop', () => {
  it('ingests updates, confirms them only after the commit, and answers button presses', async () => {
    let release: (() => void) | undefined;
    const io = recorder((batch) => (batch.length > 0 && release === undefined ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()));
    const abort = new AbortController();
    const loop = channel.poll!(account(), io, abort.signal);
    const sent = await fetch(`${fake.url}/bot${fake.token}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: 42, text: 'pick' }),
    }).then((r) => r.json() as Promise<{ result: { message_id: number } }>);
    fake.pushMessage({ chat: group, from: alice, text: '@PincerTestBot hello there' });
    fake.pushCallback({ chat: dm, from: alice, messageId: sent.result.message_id, data: 'yes' });
    await until(() => release !== undefined, 'the first batch');
    // Not committed yet: Telegram still holds both updates.
    expect(fake.pendingUpdates).toHaveLength(2);
    expect(fake.outboundOf('answerCallbackQuery')).toHaveLength(0);
    release!();
    await until(() => fake.pendingUpdates.length === 0, 'the confirming getUpdates');
    await until(() => fake.outboundOf('answerCallbackQuery').length === 1, 'the callback answer');
    abort.abort();
    await loop;
    const [message, action] = events(io);
    expect(message).toMatchObject({ kind: 'message', text: 'hello there', mentions: { bot: true }, conversation: { kind: 'group', id: '-100500' } });
    expect(action).toMatchObject({ kind: 'action', action: { id: 'yes' }, conversation: { kind: 'direct', id: '42' } });
    expect(io.fatals).toEqual([]);
  });

  it('sends heartbeats (empty batches) while nothing arrives', async () => {
    const io = recorder();
    const abort = new AbortController();
    const loop = channel.poll!(account({ poll_timeout: 0 }), io, abort.signal);
    await until(() => io.batches.length >= 3, 'three heartbeats');
    abort.abort();
    await loop;
    expect(io.batches.slice(0, 3)).toEqual([[], [], []]);
  });

  it('asks again for the same updates when the commit fails', async () => {
    let failures = 2;
    const io = recorder(async (batch) => {
      if (batch.length > 0 && failures-- > 0) throw new Error('store unavailable');
    });
    const abort = new AbortController();
    const loop = channel.poll!(account(), io, abort.signal);
    const update = fake.pushMessage({ chat: dm, from: alice, text: 'keep me' });
    await until(() => events(io).length === 1, 'the committed update');
    await until(() => fake.pendingUpdates.length === 0, 'the confirmation');
    abort.abort();
    await loop;
    expect(events(io)[0]).toMatchObject({ eventId: String(update.update_id), text: 'keep me' });
    expect(warnings.filter((w) => w.includes('committing updates'))).toHaveLength(2);
  });

  it('backs off over a failing getUpdates and carries on', async () => {
    fake.fault('getUpdates', { kind: 'status', status: 502, description: 'Bad Gateway' }, 3);
    const io = recorder();
    const abort = new AbortController();
    const loop = channel.poll!(account(), io, abort.signal);
    fake.pushMessage({ chat: dm, from: alice, text: 'after the outage' });
    await until(() => events(io).length === 1, 'the update after the outage');
    abort.abort();
    await loop;
    expect(warnings.filter((w) => w.includes('getUpdates failed'))).toHaveLength(3);
    expect(io.fatals).toEqual([]);
  });

  it('reports a refused token as fatal and stops', async () => {
    const io = recorder();
    await channel.poll!({ id: 'main', config: { token: '1:refused', api_root: fake.url } }, io, new AbortController().signal);
    expect(io.fatals).toEqual([{ detail: 'the bot token was refused (401)', hint: 'check channels.telegram.accounts.main.token / TELEGRAM_BOT_TOKEN' }]);
  });

  it('reports a webhook still set (409) as fatal instead of removing it', async () => {
    await fetch(`${fake.url}/bot${fake.token}/setWebhook?url=https://elsewhere.example/hook`);
    const io = recorder();
    await channel.poll!(account(), io, new AbortController().signal);
    expect(io.fatals).toHaveLength(1);
    expect(io.fatals[0]!.detail).toContain('409');
    expect(io.fatals[0]!.hint).toContain('webhook');
    expect(fake.calls.some((c) => c.method === 'deleteWebhook')).toBe(false);
  });

  it('stops promptly on abort during a long poll', async () => {
    const io = recorder();
    const abort = new AbortController();
    const loop = channel.poll!(account({ poll_timeout: 30 }), io, abort.signal);
    await until(() => fake.calls.some((c) => c.method === 'getMe'), 'the first poll');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    abort.abort();
    await loop;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('telegram webhook', () => {
  const secret = 'hook_Secret-1';
  const hooked = (): ChannelAccount => account({ transport: 'webhook', webhook_secret: secret });

  it('accepts an update with the right secret and parses it', async () => {
    const update = { update_id: 9, message: { message_id: 3, date: 1, chat: { id: 42, type: 'private' }, from: { id: 42, is_bot: false, first_name: 'A' }, text: 'hi' } };
    const verdict = await channel.webhook!({ method: 'POST' as const, query: {}, headers: { 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(update) }, hooked());
    expect(verdict).toMatchObject({ accept: true, events: [{ eventId: '9', messageId: '3', text: 'hi' }] });
  });

  it('refuses a missing or wrong secret with 401, and a body that is not an Update with 400', async () => {
    const body = JSON.stringify({ update_id: 1 });
    const attempts: Array<Record<string, string>> = [{}, { 'x-telegram-bot-api-secret-token': 'wrong' }, { 'X-Telegram-Bot-Api-Secret-Token': `${secret}x` }];
    for (const headers of attempts) {
      expect(await channel.webhook!({ method: 'POST', query: {}, headers, body }, hooked())).toMatchObject({ accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNAUTHORIZED' });
    }
    const headers = { 'x-telegram-bot-api-secret-token': secret };
    expect(await channel.webhook!({ method: 'POST', query: {}, headers, body: '{not json' }, hooked())).toMatchObject({ accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID' });
    expect(await channel.webhook!({ method: 'POST', query: {}, headers, body: '[1]' }, hooked())).toMatchObject({ accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID' });
  });

  it('answers a button press in the webhook reply', async () => {
    const update = { update_id: 10, callback_query: { id: 'cb-7', from: { id: 42, is_bot: false, first_name: 'A' }, chat_instance: 'c', data: 'go' } };
    const verdict = await channel.webhook!({ method: 'POST' as const, query: {}, headers: { 'x-telegram-bot-api-secret-token': secret }, body: JSON.stringify(update) }, hooked());
    expect(verdict).toMatchObject({ accept: true, body: { method: 'answerCallbackQuery', callback_query_id: 'cb-7' } });
  });

  it('connect registers the webhook when public_url is set, and polling registers nothing', async () => {
    await channel.connect!(account(), new AbortController().signal);
    expect(fake.calls.some((c) => c.method === 'setWebhook')).toBe(false);
    await channel.connect!(account({ transport: 'webhook', webhook_secret: secret, public_url: 'https://bot.example/' }), new AbortController().signal);
    const info = await fetch(`${fake.url}/bot${fake.token}/getWebhookInfo`).then((r) => r.json() as Promise<{ result: { url: string; allowed_updates: string[] } }>);
    expect(info.result.url).toBe('https://bot.example/v1/channels/telegram/default/webhook');
    expect(info.result.allowed_updates).toEqual(['message', 'channel_post', 'callback_query']);
    expect(fake.calls.find((c) => c.method === 'setWebhook')?.params['secret_token']).toBe(secret);
  });

  it('connect fails with a classified error on a refused token', async () => {
    expect((await classOf(channel.connect!({ id: 'x', config: { token: '1:refused', api_root: fake.url } }, new AbortController().signal))).errorClass).toBe('permanent');
  });
});

describe('telegram plan and sends', () => {
  it('plans HTML parts and the buckets of a direct chat and of a group', async () => {
    const plan = await channel.plan('**hi** & bye', direct, account());
    expect(plan.parts).toEqual([{ text: '<b>hi</b> &amp; bye', plain: 'hi & bye', extra: { parse_mode: 'HTML' } }]);
    expect(plan.buckets).toEqual([
      { key: 'global', limit: 30, intervalMs: 1000 },
      { key: 'chat:42', limit: 1, intervalMs: 1000 },
    ]);
    const inGroup = await channel.plan('x', { conversation: { kind: 'group', id: '-5' } }, account({ rate: { per_group: '10/min', global: '25/s' } }));
    expect(inGroup.buckets).toEqual([
      { key: 'global', limit: 25, intervalMs: 1000 },
      { key: 'chat:-5', limit: 1, intervalMs: 1000 },
      { key: 'group:-5', limit: 10, intervalMs: 60_000 },
    ]);
  });

  it('sends a part as HTML, replying to the first message only when asked, into a topic', async () => {
    const question = fake.pushMessage({ chat: group, from: alice, text: 'q', threadId: 8 });
    const questionId = (question['message'] as { message_id: number }).message_id;
    const forum = { conversation: { kind: 'group' as const, id: String(group.id), threadId: '8' }, replyTo: String(questionId) };
    const [first] = (await channel.plan('**one**', forum, account())).parts;
    const receipt = await channel.send(first!, forum, account(), new AbortController().signal);
    await channel.send({ text: 'a < b', plain: 'a < b' }, { conversation: forum.conversation }, account(), new AbortController().signal);
    const [one, two] = fake.outboundOf('sendMessage');
    expect(receipt.platformMessageId).toBe(String((one!.result as { message_id: number }).message_id));
    expect(one!.params).toMatchObject({ chat_id: '-100500', text: '<b>one</b>', parse_mode: 'HTML', message_thread_id: 8, reply_parameters: { message_id: questionId, allow_sending_without_reply: true } });
    // The plain fallback goes without a parse mode; a later part without a reply.
    expect(two!.params).not.toHaveProperty('parse_mode');
    expect(two!.params).not.toHaveProperty('reply_parameters');
    expect(fake.sent(group.id).map((m) => m.text)).toEqual(['one', 'a < b']);
  });

  it('turns link previews off when the account says so', async () => {
    await channel.send({ text: 'https://a.example', plain: 'https://a.example' }, direct, account({ link_preview: false }), new AbortController().signal);
    expect(fake.outboundOf('sendMessage')[0]!.params['link_preview_options']).toEqual({ is_disabled: true });
  });

  it('classifies what Telegram and the network answer', async () => {
    const signal = new AbortController().signal;
    const part = { text: 'hi', plain: 'hi', extra: { parse_mode: 'HTML' } };
    expect((await classOf(channel.send({ ...part, text: '<x>bad</x>' }, direct, account(), signal))).errorClass).toBe('unparsable');
    expect((await classOf(channel.send(part, { conversation: { kind: 'direct', id: '7' } }, account(), signal))).errorClass).toBe('permanent');
    fake.fault('sendMessage', { kind: 'status', status: 500 });
    expect((await classOf(channel.send(part, direct, account(), signal))).errorClass).toBe('ambiguous');
    fake.fault('sendMessage', { kind: 'drop' });
    expect((await classOf(channel.send(part, direct, account(), signal))).errorClass).toBe('ambiguous');
    // The dropped one did arrive: exactly why it must not be resent blindly.
    expect(fake.sent(42).map((m) => m.text)).toEqual(['hi']);
    fake.block(42);
    expect((await classOf(channel.send(part, direct, account(), signal))).errorClass).toBe('permanent');
    fake.fault('sendMessage', { kind: 'rate_limit', retryAfter: 4 });
    const limited = await classOf(channel.send(part, { conversation: { kind: 'group', id: String(group.id) } }, account(), signal));
    expect([limited.errorClass, limited.retryAfterMs]).toEqual(['rate_limited', 4000]);
    expect(fake.violations).toEqual([]);
  });

  it('classifies a refused connection as transient: nothing was sent', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as { port: number };
        server.close(() => resolve(p));
      });
    });
    const err = await classOf(channel.send({ text: 'x', plain: 'x' }, direct, account({ api_root: `http://127.0.0.1:${port}` }), new AbortController().signal));
    expect(err.errorClass).toBe('transient');
  });

  it('edits, taking "message is not modified" as done, and shows typing on start only', async () => {
    const signal = new AbortController().signal;
    const part = { text: '<b>draft</b>', plain: 'draft', extra: { parse_mode: 'HTML' } };
    const { platformMessageId } = await channel.send(part, direct, account(), signal);
    await channel.edit!(platformMessageId!, { ...part, text: '<b>final</b>' }, direct, account(), signal);
    await expect(channel.edit!(platformMessageId!, { ...part, text: '<b>final</b>' }, direct, account(), signal)).resolves.toEqual({ platformMessageId });
    expect(fake.sent(42)[0]!.text).toBe('final');
    await channel.typing!(direct, account(), 'start', signal);
    await channel.typing!(direct, account(), 'stop', signal);
    expect(fake.outboundOf('sendChatAction').map((r) => r.params['action'])).toEqual(['typing']);
  });

  it('names the setting at fault', async () => {
    await expect(channel.plan('x', direct, { id: 'bad', config: {} })).rejects.toThrow(/channels\.telegram\.accounts\.bad\.token is not set/);
    await expect(async () => channel.plan('x', direct, account({ rate: { per_chat: 'fast' } }))).rejects.toThrow(/rate\.per_chat must read like/);
    await expect(async () => channel.plan('x', direct, account({ transport: 'webhook' }))).rejects.toThrow(/webhook_secret is required/);
  });
});
