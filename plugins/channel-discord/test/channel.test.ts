import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelAccount, ChannelIngestIO, ChannelSpec, ChannelTarget, JsonObject, PluginLogger } from 'pincer/plugin';
import { DiscordFake, type FakeChannel, type FakeDiscordUser } from '../../../test/support/fakes/discord.js';
import { classOf, events, recorder, until } from '../../../test/support/fakes/discord-io.js';
import { createDiscordChannel } from '../channel.js';

let fake: DiscordFake;
let channel: ChannelSpec;
let alice: FakeDiscordUser;
let dm: FakeChannel;
let logs: Array<{ level: string; msg: string }>;

const log: PluginLogger = {
  debug: () => {},
  info: (msg) => logs.push({ level: 'info', msg }),
  warn: (msg) => logs.push({ level: 'warn', msg }),
  error: (msg) => logs.push({ level: 'error', msg }),
};

function account(extra: JsonObject = {}): ChannelAccount {
  return { id: 'default', config: { token: fake.token, api_root: fake.url, ...extra } };
}

beforeEach(async () => {
  logs = [];
  fake = new DiscordFake({ heartbeatIntervalMs: 200 });
  await fake.start();
  channel = createDiscordChannel({ log });
  alice = fake.user(1, 'alice');
  dm = fake.dm(alice);
});

afterEach(async () => {
  await fake.stop();
});

function run(io: ChannelIngestIO, extra: JsonObject = {}): { stop: () => Promise<void>; done: Promise<void> } {
  const controller = new AbortController();
  const done = channel.poll!(account(extra), io, controller.signal);
  return {
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

describe('discord gateway loop', () => {
  it('identifies with the intents, and turns MESSAGE_CREATE into events with the cursor after their batch', async () => {
    const io = recorder();
    const loop = run(io);
    try {
      await until(() => fake.gateway.count(2) === 1 && io.cursors.length > 0, 'READY to be committed');
      const identify = fake.gateway.received.find((f) => f.op === 2)!.d as { intents: number };
      expect(identify.intents).toBe((1 << 0) | (1 << 9) | (1 << 12) | (1 << 15));
      const { dispatch } = fake.post(dm, alice, 'hello there');
      await until(() => events(io).length === 1, 'the event');
      expect(events(io)[0]).toMatchObject({ kind: 'message', conversation: { kind: 'direct', id: dm.id }, sender: { id: alice.id, username: 'alice', isBot: false }, text: 'hello there', mentions: { bot: false } });
      expect(io.stored).toMatchObject({ session_id: fake.gateway.current!.id, sequence: dispatch!.s, resume_url: fake.gateway.url });
      // Heartbeats carry the committed sequence: the fake's notion of "taken".
      await until(() => fake.gateway.current!.taken >= dispatch!.s, 'a heartbeat with the committed sequence');
    } finally {
      await loop.stop();
    }
  });

  it('parses guild mentions, replies to the bot and drops nothing itself (the bot echo is marked fromSelf)', async () => {
    const io = recorder();
    const loop = run(io);
    try {
      await until(() => io.cursors.length > 0, 'READY');
      const room = fake.guildChannel();
      const sent = await channel.send({ text: 'earlier', plain: 'earlier' }, { conversation: { kind: 'group', id: room.id } }, account(), new AbortController().signal);
      const earlier = fake.sentIn(room.id).find((m) => m.id === sent.platformMessageId)!;
      fake.post(room, alice, `<@${fake.bot.id}> what is up`, { mentions: [fake.bot] });
      fake.post(room, alice, 'about that', { replyTo: earlier });
      await until(() => events(io).length === 3, 'three events');
      const [echo, mention, reply] = events(io);
      expect(echo).toMatchObject({ fromSelf: true, text: 'earlier' });
      expect(mention).toMatchObject({ conversation: { kind: 'group', id: room.id }, text: 'what is up', mentions: { bot: true } });
      expect(reply).toMatchObject({ mentions: { bot: false, replyToBot: true }, replyTo: { messageId: earlier.id, senderId: fake.bot.id, isBot: true } });
    } finally {
      await loop.stop();
    }
  });

  it('keeps a refused batch and commits it when ingest works again, never storing a sequence past it', async () => {
    const io = recorder();
    const loop = run(io);
    try {
      await until(() => io.cursors.length > 0, 'READY');
      const before = io.cursors.length;
      io.refuse = 2;
      const { dispatch } = fake.post(dm, alice, 'try again');
      await until(() => events(io).length === 1, 'the event after two refusals');
      expect(io.cursors.length).toBe(before + 1);
      expect(io.stored).toMatchObject({ sequence: dispatch!.s });
    } finally {
      await loop.stop();
    }
  });

  it('resumes after a restart from the committed sequence, replaying what was not committed', async () => {
    const io = recorder();
    let loop = run(io);
    await until(() => io.cursors.length > 0, 'READY');
    fake.post(dm, alice, 'one');
    await until(() => events(io).length === 1, 'the first event');
    io.refuse = 1_000;
    fake.post(dm, alice, 'two');
    await until(() => fake.gateway.current!.log.length >= 3, 'the second dispatch');
    await loop.stop();
    io.refuse = 0;
    loop = run(io);
    try {
      await until(() => events(io).length === 2, 'the replayed event');
      expect(events(io).map((e) => e.text)).toEqual(['one', 'two']);
      expect(fake.gateway.count(6)).toBe(1);
      expect(fake.gateway.count(2)).toBe(1);
      expect(logs.some((l) => l.level === 'warn' && /identified afresh/.test(l.msg))).toBe(false);
    } finally {
      await loop.stop();
    }
  });

  it('identifies afresh when the stored session is gone, and says so in the log', async () => {
    const io = recorder({ session_id: 'gone', sequence: 7, resume_url: fake.gateway.url });
    const loop = run(io);
    try {
      await until(() => fake.gateway.count(2) === 1 && io.cursors.length > 0, 'a fresh IDENTIFY');
      expect(fake.gateway.count(6)).toBe(1);
      expect(logs).toContainEqual({ level: 'warn', msg: expect.stringMatching(/identified afresh/) });
      fake.post(dm, alice, 'after');
      await until(() => events(io).length === 1, 'an event in the new session');
    } finally {
      await loop.stop();
    }
  });

  it('follows RECONNECT (op 7) by resuming, without duplicate events', async () => {
    const io = recorder();
    const loop = run(io);
    try {
      await until(() => io.cursors.length > 0, 'READY');
      fake.post(dm, alice, 'before');
      await until(() => events(io).length === 1, 'the first event');
      fake.gateway.reconnect();
      await until(() => fake.gateway.count(6) === 1, 'the RESUME');
      fake.post(dm, alice, 'after');
      await until(() => events(io).length === 2, 'the event after the resume');
      expect(events(io).map((e) => e.text)).toEqual(['before', 'after']);
    } finally {
      await loop.stop();
    }
  });

  it('stops with a fatal error and a hint when the token is refused: 401 on REST, or close 4004 on the gateway', async () => {
    const refused = recorder();
    await channel.poll!({ id: 'default', config: { token: 'wrong-token', api_root: fake.url } }, refused, new AbortController().signal);
    expect(refused.fatals).toEqual([{ detail: expect.stringContaining('401'), hint: expect.stringContaining('token') }]);

    const io = recorder();
    const loop = run(io);
    await until(() => io.cursors.length > 0, 'READY');
    fake.gateway.close(4004, 'Authentication failed.');
    await loop.done;
    expect(io.fatals).toEqual([{ detail: expect.stringContaining('4004'), hint: expect.stringContaining('token') }]);
  });

  it('throws when GET /gateway/bot fails, so core restarts the loop', async () => {
    fake.gatewayBotDown = true;
    const io = recorder();
    const loop = run(io);
    await expect(loop.done).rejects.toThrow();
    expect(io.fatals).toEqual([]);
  });

  it('stops with a fatal error on 4014 when the Message Content intent is not enabled', async () => {
    fake.messageContentAllowed = false;
    const io = recorder();
    const loop = run(io);
    await loop.done;
    expect(io.fatals).toEqual([{ detail: expect.stringContaining('4014'), hint: expect.stringContaining('Message Content') }]);
  });
});

describe('discord sends', () => {
  const target = (): ChannelTarget => ({ conversation: { kind: 'direct', id: dm.id } });
  const signal = () => new AbortController().signal;

  it('sends with a nonce: a resent part is the message Discord already made', async () => {
    const part = { text: 'hi **there**', plain: 'hi there', extra: { webhookId: 'delivery-123456789.0' } };
    const first = await channel.send(part, target(), account(), signal());
    const second = await channel.send(part, target(), account(), signal());
    expect(second.platformMessageId).toBe(first.platformMessageId);
    expect(fake.sentIn(dm.id).map((m) => m.content)).toEqual(['hi **there**']);
    const body = fake.calls.find((c) => c.path.endsWith('/messages'))!.body!;
    expect(body).toMatchObject({ enforce_nonce: true, allowed_mentions: { parse: [] } });
    expect(String(body['nonce']).length).toBeLessThanOrEqual(25);
  });

  it('replies with the first part only, edits and types', async () => {
    const { message } = fake.post(dm, alice, 'question');
    const t: ChannelTarget = { ...target(), replyTo: message.id };
    const a = await channel.send({ text: 'part one', plain: 'part one', extra: { webhookId: 'd1.0' } }, t, account(), signal());
    await channel.send({ text: 'part two', plain: 'part two', extra: { webhookId: 'd1.1' } }, t, account(), signal());
    const [one, two] = fake.sentIn(dm.id);
    expect(one!.message_reference?.message_id).toBe(message.id);
    expect(two!.message_reference).toBeUndefined();
    await channel.edit!(a.platformMessageId!, { text: 'part one, edited', plain: '' }, t, account(), signal());
    expect(fake.sentIn(dm.id)[0]!.content).toBe('part one, edited');
    await channel.typing!(t, account(), 'start', signal());
    expect(fake.calls.at(-1)).toMatchObject({ method: 'POST', path: `/api/v10/channels/${dm.id}/typing`, status: 204 });
  });

  it('classifies 429 (with its wait), 5xx, unknown channel, missing access, 401 and a dropped answer', async () => {
    fake.fault({ kind: 'rate_limit', retryAfter: 2 });
    const limited = await classOf(channel.send({ text: 'x', plain: 'x' }, target(), account(), signal()));
    expect(limited.errorClass).toBe('rate_limited');
    expect(limited.retryAfterMs).toBeGreaterThanOrEqual(2000);
    // The library did not wait and retry it itself; within the wait, its bucket refuses a
    // send to that channel without calling Discord.
    expect(fake.calls.filter((c) => c.path.endsWith('/messages'))).toHaveLength(1);
    const again = await classOf(channel.send({ text: 'x', plain: 'x' }, target(), account(), signal()));
    expect(again.errorClass).toBe('rate_limited');
    expect(again.retryAfterMs).toBeGreaterThan(0);
    expect(fake.calls.filter((c) => c.path.endsWith('/messages'))).toHaveLength(1);

    const bob = fake.dm(fake.user(2, 'bob'));
    const toBob: ChannelTarget = { conversation: { kind: 'direct', id: bob.id } };
    fake.fault({ kind: 'status', status: 502, message: 'Bad Gateway' });
    expect((await classOf(channel.send({ text: 'x', plain: 'x' }, toBob, account(), signal()))).errorClass).toBe('transient');
    expect(fake.calls.filter((c) => c.path.endsWith('/messages'))).toHaveLength(2);

    const gone = await classOf(channel.send({ text: 'x', plain: 'x' }, { conversation: { kind: 'group', id: '123' } }, account(), signal()));
    expect(gone).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('10003') });
    const closed = fake.guildChannel();
    closed.closed = true;
    expect(await classOf(channel.send({ text: 'x', plain: 'x' }, { conversation: { kind: 'group', id: closed.id } }, account(), signal()))).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('50001') });
    expect((await classOf(channel.send({ text: 'x', plain: 'x' }, toBob, { id: 'default', config: { token: 'nope', api_root: fake.url } }, signal()))).errorClass).toBe('permanent');

    fake.fault({ kind: 'drop' });
    expect((await classOf(channel.send({ text: 'x', plain: 'x' }, toBob, account(), signal()))).errorClass).toBe('ambiguous');
    // It was made: the drop happened after the message was stored.
    expect(fake.sentIn(bob.id)).toHaveLength(1);
  });

  it('refuses a token Discord does not know at connect, and accepts a good one', async () => {
    await channel.connect!(account(), signal());
    expect(logs).toContainEqual({ level: 'info', msg: 'discord account connected' });
    expect((await classOf(channel.connect!({ id: 'default', config: { token: 'nope', api_root: fake.url } }, signal()))).errorClass).toBe('permanent');
  });

  it('plans parts of at most 2,000 characters with per-channel and global buckets', async () => {
    const plan = await channel.plan(Array.from({ length: 60 }, (_, i) => `Paragraph ${i} says ${'word '.repeat(20)}`).join('\n\n'), target(), account());
    expect(plan.parts.length).toBeGreaterThanOrEqual(3);
    for (const part of plan.parts) expect(part.text.length).toBeLessThanOrEqual(2000);
    expect(plan.buckets.map((b) => b.key)).toEqual(['global', `channel:${dm.id}`]);
  });
});
