import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelAccount, ChannelIngestIO, ChannelSpec, ChannelTarget, InboundEvent, JsonObject, JsonValue, PluginLogger } from 'pincer/plugin';
import { ChannelError } from 'pincer/channel-kit';
import { MatrixFake, type FakeRoom, type FakeUser } from '../../../test/support/fakes/matrix.js';
import { createMatrixChannel } from '../channel.js';

let fake: MatrixFake;
let channel: ChannelSpec;
let alice: FakeUser;
let dm: FakeRoom;
let warnings: string[];

const log: PluginLogger = { debug: () => {}, info: () => {}, warn: (msg) => warnings.push(msg), error: (msg) => warnings.push(msg) };

function account(extra: JsonObject = {}): ChannelAccount {
  return { id: 'default', config: { homeserver: fake.url, access_token: fake.bot.token, poll_timeout: 1, ...extra } };
}

const target = (room: FakeRoom, more: Partial<ChannelTarget> = {}): ChannelTarget => ({ conversation: { kind: 'direct', id: room.roomId.slice(1) }, ...more });

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

async function classOf(promise: Promise<unknown>): Promise<ChannelError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChannelError);
  return err as ChannelError;
}

/** An io that commits in memory and records cursors, like core's. */
function memoryIo(start: JsonValue | null = null) {
  const io = {
    events: [] as InboundEvent[],
    cursors: [] as JsonValue[],
    fatal: undefined as { detail: string; hint?: string } | undefined,
    cursor: async () => io.cursors.at(-1) ?? start,
    ingest: async (events: InboundEvent[], options?: { cursor?: JsonValue }) => {
      io.events.push(...events);
      if (options?.cursor !== undefined) io.cursors.push(options.cursor);
    },
  };
  const port: ChannelIngestIO = { cursor: io.cursor, ingest: io.ingest, fatal: (detail, hint) => (io.fatal = { detail, ...(hint ? { hint } : {}) }) };
  return { io, port };
}

async function polling(acc: ChannelAccount, start: JsonValue | null = null) {
  const { io, port } = memoryIo(start);
  const controller = new AbortController();
  await channel.connect!(acc, controller.signal);
  const done = channel.poll!(acc, port, controller.signal);
  await until(() => io.cursors.length > 0 || io.fatal !== undefined, 'the first cursor');
  return { io, stop: async () => (controller.abort(), await done), done };
}

beforeEach(async () => {
  warnings = [];
  fake = new MatrixFake();
  await fake.start();
  alice = fake.world.user('alice', 'Alice');
  dm = fake.directRoom(alice);
  channel = createMatrixChannel({ log, backoff: { initialMs: 10, maxMs: 50 } });
});

afterEach(async () => {
  await fake.stop();
});

describe('Matrix channel: the sync loop', () => {
  it('skips what was said before its first run, then takes new messages and stores each batch token after it', async () => {
    fake.say(dm, alice, 'old news');
    const { io, stop } = await polling(account());
    fake.say(dm, alice, 'hello');
    await until(() => io.events.length === 1, 'the new message');
    expect(io.events[0]).toMatchObject({ text: 'hello', conversation: { kind: 'direct', id: dm.roomId.slice(1) }, sender: { id: alice.userId } });
    await stop();
    expect(io.cursors.every((c) => typeof c === 'string' && /^s\d+$/.test(c))).toBe(true);
  });

  it('resumes from the stored token: what came while it was down is taken', async () => {
    const { body } = { body: await (await fetch(`${fake.url}/_matrix/client/v3/sync?timeout=0`, { headers: { authorization: `Bearer ${fake.bot.token}` } })).json() as { next_batch: string } };
    fake.say(dm, alice, 'while you were out');
    const { io, stop } = await polling(account(), body.next_batch);
    await until(() => io.events.length === 1, 'the missed message');
    expect(io.events[0]?.text).toBe('while you were out');
    await stop();
  });

  it('tells a group from a DM by member count, and joins invites as the policy allows', async () => {
    const bob = fake.world.user('bob');
    const { io, stop } = await polling(account({ dm_policy: 'pairing', group_policy: 'allowlist', allow_from: [bob.userId] }));
    const fromBob = fake.world.room([bob.userId, alice.userId]);
    fake.world.invite(fromBob, bob.userId, fake.bot.userId);
    const fromStranger = fake.world.room([alice.userId]);
    fake.world.invite(fromStranger, alice.userId, fake.bot.userId);
    const dmInvite = fake.world.room([alice.userId]);
    fake.world.invite(dmInvite, alice.userId, fake.bot.userId, true);
    await until(() => fromBob.members.get(fake.bot.userId) === 'join' && dmInvite.members.get(fake.bot.userId) === 'join', 'the joins');
    expect(fromStranger.members.get(fake.bot.userId)).toBe('invite');
    fake.say(fromBob, bob, 'group talk');
    fake.say(dmInvite, alice, 'just us');
    await until(() => io.events.length === 2, 'both messages');
    expect(io.events.map((e) => [e.text, e.conversation.kind])).toEqual([
      ['group talk', 'group'],
      ['just us', 'direct'],
    ]);
    await stop();
  });

  it('reports a refused token as fatal once and ends', async () => {
    const acc = account();
    const { io, port } = memoryIo('s0');
    const controller = new AbortController();
    await channel.connect!(acc, controller.signal);
    fake.fault('sync', { kind: 'status', status: 401, errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid access token passed.' });
    await channel.poll!(acc, port, controller.signal);
    expect(io.fatal).toMatchObject({ detail: expect.stringContaining('M_UNKNOWN_TOKEN'), hint: expect.stringContaining('MATRIX_ACCESS_TOKEN') });
  });

  it('connect refuses a bad token as permanent', async () => {
    const err = await classOf(channel.connect!(account({ access_token: 'wrong' }), new AbortController().signal));
    expect(err.errorClass).toBe('permanent');
  });

  it('retries a failed sync and a failed commit from the same token', async () => {
    const { io, port } = memoryIo('s0');
    let refusals = 1;
    const flaky: ChannelIngestIO = {
      ...port,
      ingest: async (events, options) => {
        if (events.length > 0 && refusals-- > 0) throw new Error('store down');
        await port.ingest(events, options);
      },
    };
    const controller = new AbortController();
    const acc = account();
    await channel.connect!(acc, controller.signal);
    fake.fault('sync', { kind: 'status', status: 502 });
    fake.say(dm, alice, 'again please');
    const done = channel.poll!(acc, flaky, controller.signal);
    await until(() => io.events.length === 1, 'the message after the failures');
    expect(io.events[0]?.text).toBe('again please');
    expect(warnings.some((w) => w.includes('sync failed'))).toBe(true);
    expect(warnings.some((w) => w.includes('committing events failed'))).toBe(true);
    controller.abort();
    await done;
  });
});

describe('Matrix channel: sends', () => {
  const signal = new AbortController().signal;

  it('sends HTML and plain bodies with a reply relation, deduplicated by the part id', async () => {
    const acc = account();
    const [part] = (await channel.plan('**hi** there', target(dm), acc)).parts;
    const withId = { ...part!, extra: { ...part!.extra, webhookId: 'd1.0' } };
    const first = await channel.send(withId, target(dm, { replyTo: '$asked' }), acc, signal);
    const again = await channel.send(withId, target(dm, { replyTo: '$asked' }), acc, signal);
    expect(again.platformMessageId).toBe(first.platformMessageId);
    expect(fake.messages(dm)).toEqual([
      { msgtype: 'm.text', body: 'hi there', format: 'org.matrix.custom.html', formatted_body: '<p><strong>hi</strong> there</p>', 'm.mentions': {}, 'm.relates_to': { 'm.in_reply_to': { event_id: '$asked' } } },
    ]);
    expect(fake.sends.map((s) => [s.txnId, s.duplicate])).toEqual([
      ['d1.0', false],
      ['d1.0', true],
    ]);
  });

  it('keeps a reply in its thread', async () => {
    const acc = account();
    const [part] = (await channel.plan('in the thread', target(dm), acc)).parts;
    await channel.send(part!, { conversation: { kind: 'group', id: dm.roomId.slice(1), threadId: 'root' } }, acc, signal);
    expect(fake.messages(dm)[0]?.['m.relates_to']).toEqual({ rel_type: 'm.thread', event_id: '$root', is_falling_back: true, 'm.in_reply_to': { event_id: '$root' } });
  });

  it('edits with m.replace, and types', async () => {
    const acc = account();
    const [draft] = (await channel.plan('draft', target(dm), acc)).parts;
    const sent = await channel.send(draft!, target(dm), acc, signal);
    const [final] = (await channel.plan('final *words*', target(dm), acc)).parts;
    await channel.edit!(sent.platformMessageId!, final!, target(dm), acc, signal);
    expect(fake.messages(dm)).toEqual([{ msgtype: 'm.text', body: 'final words', format: 'org.matrix.custom.html', formatted_body: '<p>final <em>words</em></p>', 'm.mentions': {} }]);
    await channel.typing!(target(dm), acc, 'start', signal);
    await channel.typing!(target(dm), acc, 'stop', signal);
    expect(fake.typing.map((t) => [t.typing, t.timeout])).toEqual([
      [true, 30000],
      [false, undefined],
    ]);
  });

  it('classifies the homeserver’s answers', async () => {
    const acc = account();
    const [part] = (await channel.plan('x', target(dm), acc)).parts;
    fake.fault('send', { kind: 'rate_limit', retryAfterMs: 1234 });
    expect(await classOf(channel.send(part!, target(dm), acc, signal))).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 1234 });
    fake.fault('send', { kind: 'status', status: 500 });
    expect((await classOf(channel.send(part!, target(dm), acc, signal))).errorClass).toBe('transient');
    fake.fault('send', { kind: 'drop' });
    expect((await classOf(channel.send(part!, target(dm), acc, signal))).errorClass).toBe('ambiguous');
    const outside = fake.world.room([alice.userId]);
    expect((await classOf(channel.send(part!, target(outside), acc, signal))).errorClass).toBe('permanent');
    // A port nothing listens on: the request never left.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect((await classOf(channel.send(part!, target(dm), account({ homeserver: `http://127.0.0.1:${port}` }), signal))).errorClass).toBe('transient');
  });

  it('names a missing or wrong setting', async () => {
    await expect(channel.plan('x', target(dm), { id: 'default', config: { access_token: 't' } })).rejects.toMatchObject({ code: 'CHANNEL_ACCOUNT_INVALID', message: expect.stringContaining('homeserver') });
    await expect(channel.plan('x', target(dm), account({ access_token: null }))).rejects.toMatchObject({ message: expect.stringContaining('MATRIX_ACCESS_TOKEN') });
    await expect(channel.plan('x', target(dm), account({ auto_join: 'sometimes' }))).rejects.toMatchObject({ message: expect.stringContaining('auto_join') });
    await expect(channel.plan('x', target(dm), account({ text_chunk_limit: 60_000 }))).rejects.toMatchObject({ message: expect.stringContaining('text_chunk_limit') });
  });
});
