import Fastify, { type FastifyInstance } from 'fastify';
import { Api, GrammyError, HttpError } from 'grammy';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelegramFake, type FakeChat, type FakeUser } from '../../support/fakes/telegram.js';

let fake: TelegramFake;
let api: Api;
let alice: FakeUser;
let dm: FakeChat;
let group: FakeChat;
let clock: number;
/** Flood control is off except where a test is about it. */
let limits: false | undefined = false;

async function refusal(promise: Promise<unknown>): Promise<GrammyError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GrammyError);
  return err as GrammyError;
}

beforeEach(async () => {
  clock = 1_700_000_000_000;
  fake = new TelegramFake({ now: () => clock, limits });
  const { url } = await fake.start();
  api = new Api(fake.token, { apiRoot: url });
  alice = fake.user({ id: 42, first_name: 'Alice', username: 'alice' });
  dm = fake.privateChat(alice);
  group = fake.group({ id: -100500, title: 'Readers' });
});

afterEach(async () => {
  await fake.stop();
});

describe('Telegram fake: calls and envelopes', () => {
  it('answers getMe for its token and 401 for any other', async () => {
    expect(await api.getMe()).toMatchObject({ id: fake.bot.id, is_bot: true, username: 'PincerTestBot' });
    const err = await refusal(new Api('999:wrong', { apiRoot: fake.url }).getMe());
    expect(err.error_code).toBe(401);
    expect(err.description).toBe('Unauthorized');
  });

  it('takes form bodies and GET query parameters as well as JSON', async () => {
    const form = await fetch(`${fake.url}/bot${fake.token}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ chat_id: '42', text: '<b>form</b>', parse_mode: 'HTML', reply_parameters: '{"message_id":999,"allow_sending_without_reply":true}' }),
    });
    expect(await form.json()).toMatchObject({ ok: true, result: { text: 'form', entities: [{ type: 'bold', offset: 0, length: 4 }] } });
    const get = await fetch(`${fake.url}/bot${fake.token}/sendMessage?chat_id=42&text=query`);
    expect(await get.json()).toMatchObject({ ok: true, result: { text: 'query', chat: { id: 42 } } });
    const unknown = await fetch(`${fake.url}/bot${fake.token}/noSuchMethod`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ ok: false, error_code: 404, description: 'Not Found' });
  });
});

describe('Telegram fake: getUpdates', () => {
  it('long-polls until an update arrives, and forgets updates below the offset', async () => {
    const started = Date.now();
    const waiting = api.getUpdates({ timeout: 10 });
    setTimeout(() => fake.pushMessage({ chat: dm, from: alice, text: 'hi' }), 50);
    const updates = await waiting;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.message).toMatchObject({ text: 'hi', chat: { id: 42, type: 'private' }, from: { id: 42 } });
    // Unconfirmed: asked again without an offset, it is still there.
    expect(await api.getUpdates({ timeout: 0 })).toHaveLength(1);
    expect(await api.getUpdates({ offset: updates[0]!.update_id + 1, timeout: 0 })).toEqual([]);
    expect(fake.pendingUpdates).toHaveLength(0);
  });

  it('answers an empty list when the timeout passes', async () => {
    const started = Date.now();
    expect(await api.getUpdates({ timeout: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('gives at most `limit` updates, oldest first, and only the kinds allowed', async () => {
    for (let i = 0; i < 5; i++) fake.pushMessage({ chat: dm, from: alice, text: `m${i}` });
    fake.pushUpdate({ edited_message: { message_id: 1, date: 1, chat: dm, text: 'x' } });
    const two = await api.getUpdates({ limit: 2, timeout: 0, allowed_updates: ['message'] });
    expect(two.map((u) => u.message?.text)).toEqual(['m0', 'm1']);
    const rest = await api.getUpdates({ offset: two[1]!.update_id + 1, timeout: 0 });
    expect(rest.map((u) => u.message?.text)).toEqual(['m2', 'm3', 'm4']);
  });

  it('ends a pending getUpdates with 409 when a second poller asks', async () => {
    const first = api.getUpdates({ timeout: 10 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = api.getUpdates({ timeout: 1 });
    const err = (await first) as GrammyError;
    expect(err).toBeInstanceOf(GrammyError);
    expect(err.error_code).toBe(409);
    expect(err.description).toContain('Conflict: terminated by other getUpdates request');
    expect(await second).toEqual([]);
  });

  it('refuses getUpdates with 409 while a webhook is set', async () => {
    await api.setWebhook('https://bot.example/hook');
    const err = await refusal(api.getUpdates({ timeout: 0 }));
    expect(err.error_code).toBe(409);
    expect(err.description).toContain("can't use getUpdates method while webhook is active");
    await api.deleteWebhook();
    expect(await api.getUpdates({ timeout: 0 })).toEqual([]);
  });
});

describe('Telegram fake: webhook delivery', () => {
  let receiver: FastifyInstance;
  let statuses: number[];
  let seen: Array<{ id: number; secret: string | undefined }>;

  beforeEach(async () => {
    statuses = [];
    seen = [];
    receiver = Fastify();
    receiver.post('/hook', async (req, reply) => {
      const update = req.body as { update_id: number; callback_query?: { id: string } };
      seen.push({ id: update.update_id, secret: req.headers['x-telegram-bot-api-secret-token'] as string | undefined });
      const status = statuses.shift() ?? 200;
      if (status === 200 && update.callback_query) return reply.send({ method: 'answerCallbackQuery', callback_query_id: update.callback_query.id });
      return reply.code(status).send({});
    });
    await receiver.listen({ host: '127.0.0.1', port: 0 });
  });

  afterEach(async () => {
    await receiver.close();
  });

  const hookUrl = (): string => `http://127.0.0.1:${(receiver.server.address() as { port: number }).port}/hook`;
  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(check()).toBe(true);
  };

  it('posts each update with the secret header, retrying a refused one before the next', async () => {
    statuses = [500, 503];
    await api.setWebhook(hookUrl(), { secret_token: 'S3cret_-' });
    const a = fake.pushMessage({ chat: dm, from: alice, text: 'one' });
    const b = fake.pushMessage({ chat: dm, from: alice, text: 'two' });
    await until(() => fake.pendingUpdates.length === 0);
    expect(seen.map((s) => s.id)).toEqual([a.update_id, a.update_id, a.update_id, b.update_id]);
    expect(seen.every((s) => s.secret === 'S3cret_-')).toBe(true);
    const info = await api.getWebhookInfo();
    expect(info).toMatchObject({ url: hookUrl(), pending_update_count: 0 });
    expect(info.last_error_message).toContain('503');
  });

  it('runs the method a webhook answers with', async () => {
    const sent = await api.sendMessage(42, 'pick one');
    await api.setWebhook(hookUrl(), { secret_token: 'abc' });
    fake.pushCallback({ chat: dm, from: alice, messageId: sent.message_id, data: 'yes' });
    await until(() => fake.outboundOf('answerCallbackQuery').length === 1);
    expect(fake.calls.at(-1)).toMatchObject({ method: 'answerCallbackQuery', via: 'webhook-reply', status: 200 });
  });

  it('refuses a secret Telegram would not take, and a plain-http URL elsewhere', async () => {
    expect((await refusal(api.setWebhook(hookUrl(), { secret_token: 'no spaces' }))).description).toBe('Bad Request: secret token contains unallowed characters');
    expect((await refusal(api.setWebhook('http://bot.example/hook'))).description).toContain('An HTTPS URL must be provided');
  });
});

describe('Telegram fake: sendMessage', () => {
  it('parses HTML into text and entities, and returns the message', async () => {
    const message = await api.sendMessage(42, '<b>bold</b> &lt;x&gt; <a href="https://a.example/">link</a> <pre><code class="language-ts">a &amp;&amp; b</code></pre>', { parse_mode: 'HTML' });
    expect(message).toMatchObject({ chat: { id: 42 }, from: { id: fake.bot.id }, text: 'bold <x> link a && b' });
    expect(message.entities).toEqual([
      { type: 'bold', offset: 0, length: 4 },
      { type: 'text_link', offset: 9, length: 4, url: 'https://a.example/' },
      { type: 'pre', offset: 14, length: 6, language: 'ts' },
    ]);
  });

  it('refuses a tag Telegram does not take, an unescaped "<" and an unclosed tag', async () => {
    for (const text of ['<br>x', 'a < b', '<b>open', '<b><i>x</b></i>', '<span>x</span>', '<code><b>x</b></code>', '<blockquote><blockquote>x</blockquote></blockquote>']) {
      const err = await refusal(api.sendMessage(42, text, { parse_mode: 'HTML' }));
      expect(err.error_code).toBe(400);
      expect(err.description).toMatch(/^Bad Request: can't parse entities: /);
    }
    // The same text without a parse mode is plain text.
    expect((await api.sendMessage(42, 'a < b')).text).toBe('a < b');
  });

  it('counts the 4,096 limit after entity parsing', async () => {
    const body = 'x'.repeat(4096);
    expect((await api.sendMessage(42, `<b>${body}</b>`, { parse_mode: 'HTML' })).text).toHaveLength(4096);
    expect((await refusal(api.sendMessage(42, `${body}y`))).description).toBe('Bad Request: message is too long');
    expect((await refusal(api.sendMessage(42, '<b> </b>', { parse_mode: 'HTML' }))).description).toBe('Bad Request: message text is empty');
  });

  it('refuses an unknown chat, a user who blocked the bot, and a group that removed it', async () => {
    expect((await refusal(api.sendMessage(7, 'hi'))).description).toBe('Bad Request: chat not found');
    fake.block(42);
    const blocked = await refusal(api.sendMessage(42, 'hi'));
    expect([blocked.error_code, blocked.description]).toEqual([403, 'Forbidden: bot was blocked by the user']);
    fake.kick(group.id);
    expect((await refusal(api.sendMessage(group.id, 'hi'))).description).toBe('Forbidden: bot was kicked from the group chat');
  });

  it('replies to a message, or without one when allowed, and posts into a forum topic', async () => {
    const question = fake.pushMessage({ chat: dm, from: alice, text: 'question?' });
    const questionId = (question['message'] as { message_id: number }).message_id;
    const answer = await api.sendMessage(42, 'answer', { reply_parameters: { message_id: questionId } });
    expect(answer.reply_to_message).toMatchObject({ message_id: questionId, text: 'question?' });
    expect((await refusal(api.sendMessage(42, 'x', { reply_parameters: { message_id: 9999 } }))).description).toBe('Bad Request: message to be replied not found');
    expect((await api.sendMessage(42, 'x', { reply_parameters: { message_id: 9999, allow_sending_without_reply: true } })).reply_to_message).toBeUndefined();
    const forum = fake.group({ id: -100600, is_forum: true });
    fake.pushMessage({ chat: forum, from: alice, text: 'in topic', threadId: 5 });
    expect(await api.sendMessage(forum.id, 'topic reply', { message_thread_id: 5 })).toMatchObject({ message_thread_id: 5, is_topic_message: true });
    expect((await refusal(api.sendMessage(forum.id, 'x', { message_thread_id: 6 }))).description).toBe('Bad Request: message thread not found');
  });
});

describe('Telegram fake: other methods', () => {
  it('edits text, and refuses an edit that changes nothing', async () => {
    const sent = await api.sendMessage(42, '<b>draft</b>', { parse_mode: 'HTML' });
    await api.editMessageText(42, sent.message_id, '<b>final</b>', { parse_mode: 'HTML' });
    const err = await refusal(api.editMessageText(42, sent.message_id, '<b>final</b>', { parse_mode: 'HTML' }));
    expect(err.description).toMatch(/^Bad Request: message is not modified/);
    // Same text, other entities: a change.
    await api.editMessageText(42, sent.message_id, 'final');
    expect(fake.sent(42)[0]).toMatchObject({ text: 'final' });
    expect((await refusal(api.editMessageText(42, 999, 'x'))).description).toBe('Bad Request: message to edit not found');
  });

  it('takes typing, callback answers (once) and deletes, and logs them', async () => {
    expect(await api.sendChatAction(42, 'typing')).toBe(true);
    const sent = await api.sendMessage(42, 'buttons');
    const update = fake.pushCallback({ chat: dm, from: alice, messageId: sent.message_id, data: 'go' });
    const id = (update['callback_query'] as { id: string }).id;
    expect(await api.answerCallbackQuery(id)).toBe(true);
    expect((await refusal(api.answerCallbackQuery(id))).description).toContain('query is too old');
    expect(await api.deleteMessage(42, sent.message_id)).toBe(true);
    expect((await refusal(api.deleteMessage(42, sent.message_id))).description).toBe('Bad Request: message to delete not found');
    expect(fake.outbound.map((r) => r.method)).toEqual(['sendChatAction', 'sendMessage', 'answerCallbackQuery', 'deleteMessage']);
  });
});

describe('Telegram fake: flood control and faults', () => {
  beforeAll(() => {
    limits = undefined;
  });
  afterAll(() => {
    limits = false;
  });

  it('allows one message a second per chat, answers 429 with retry_after, and records a request before it', async () => {
    await api.sendMessage(42, 'one');
    const limited = await refusal(api.sendMessage(42, 'two'));
    expect(limited.error_code).toBe(429);
    expect(limited.parameters.retry_after).toBe(1);
    expect(limited.description).toBe('Too Many Requests: retry after 1');
    expect(fake.violations).toEqual([]);
    // Another chat is its own bucket.
    fake.privateChat(fake.user({ id: 43 }));
    await api.sendMessage(43, 'elsewhere');
    clock += 500;
    await refusal(api.sendMessage(42, 'too early'));
    expect(fake.violations).toEqual([{ method: 'sendMessage', scope: 'chat:42', at: clock, allowedAt: clock + 500 }]);
    clock += 500;
    expect((await api.sendMessage(42, 'on time')).text).toBe('on time');
  });

  it('allows twenty messages a minute in a group', async () => {
    for (let i = 0; i < 20; i++) {
      await api.sendMessage(group.id, `m${i}`);
      clock += 1000;
    }
    const limited = await refusal(api.sendMessage(group.id, 'twenty-first'));
    expect(limited.parameters.retry_after).toBe(40);
    clock += 40_000;
    await api.sendMessage(group.id, 'later');
    expect(fake.violations).toEqual([]);
  });

  it('plays scripted faults: a 429, a 500, a dropped answer after the send, and a delay', async () => {
    fake.fault('sendMessage', { kind: 'rate_limit', retryAfter: 3 });
    expect((await refusal(api.sendMessage(42, 'a'))).parameters.retry_after).toBe(3);
    clock += 3000;
    fake.fault('sendMessage', { kind: 'status', status: 500 });
    expect((await refusal(api.sendMessage(42, 'b'))).error_code).toBe(500);
    fake.fault('sendMessage', { kind: 'drop' });
    const dropped = await api.sendMessage(42, 'c').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(dropped).toBeInstanceOf(HttpError);
    // The message was sent although the caller saw an error: the ambiguous case.
    expect(fake.sent(42).map((m) => m.text)).toEqual(['c']);
    clock += 1000;
    fake.fault('getMe', { kind: 'delay', ms: 200 });
    const started = Date.now();
    await api.getMe();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(fake.violations).toEqual([]);
  });
});
