/**
 * Matrix beyond the conformance suite: previews as m.replace edits, typing, groups and
 * mentions, threads, invites under pairing, a refused token, and MATRIX_ACCESS_TOKEN, against
 * the homeserver fake with the channel-matrix plugin in its thread.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { JsonObject } from '../../src/json.js';
import { deliveriesIn, startChannelPincer } from '../support/channels.js';
import { MatrixFake, type FakeRoom } from '../support/fakes/matrix.js';
import { eventually, getJson, tempDir, type RunningPincer } from '../support/index.js';

const fake = new MatrixFake();
let running: RunningPincer | undefined;

beforeAll(() => fake.start());
afterAll(() => fake.stop());
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function boot(account: JsonObject = {}): Promise<RunningPincer> {
  running = await startChannelPincer({ channels: { matrix: { homeserver: fake.url, accounts: { default: { access_token: fake.bot.token, poll_timeout: 1, dm_policy: 'open', ...account } } } } });
  await eventually(() => running?.pincer.channels.list().find((a) => a.channel === 'matrix')?.state, (s) => s === 'polling' || s === 'unavailable', 20_000, 'matrix to start');
  return running;
}

let next = 0;
function person() {
  const user = fake.world.user(`person${next++}`, `Person ${next}`);
  return { user, room: fake.directRoom(user) };
}

const sentIn = (p: RunningPincer, room: FakeRoom) =>
  eventually(() => deliveriesIn(p.pincer, 'sent', 'matrix'), (d) => d.some((x) => x.lane.startsWith(`matrix:default:${room.roomId.slice(1)}`)), 20_000, 'the final delivery');

describe('matrix: previews and typing', () => {
  it('streams a reply into one message by m.replace edits, typing until the reply', async () => {
    const p = await boot();
    const { user, room } = person();
    fake.say(room, user, 'stream:6:400');
    await sentIn(p, room);
    const expected = Array.from({ length: 6 }, (_, i) => `word${i} `.repeat(8)).join('').trim();
    expect(fake.messages(room).map((c) => c['body'])).toEqual([expected]);
    const edits = fake.sends.filter((s) => s.roomId === room.roomId && (s.content['m.relates_to'] as JsonObject | undefined)?.['rel_type'] === 'm.replace');
    expect(edits.length).toBeGreaterThanOrEqual(1);
    expect(edits.every((e) => typeof e.content['m.new_content'] === 'object')).toBe(true);
    const typing = fake.typing.filter((t) => t.roomId === room.roomId);
    expect(typing[0]).toMatchObject({ typing: true, timeout: 30000 });
    await eventually(() => fake.typing.filter((t) => t.roomId === room.roomId).at(-1)?.typing, (t) => t === false, 10_000, 'typing to stop');
  });
});

describe('matrix: groups, mentions and threads', () => {
  it('keeps an unmentioned group message as context and answers a mention, replying to it', async () => {
    const p = await boot({ groups: { '*': { require_mention: true } } });
    const alice = fake.world.user(`alice${next++}`, 'Alice');
    const bob = fake.world.user(`bob${next++}`, 'Bob');
    const group = fake.world.room([alice.userId, bob.userId, fake.bot.userId], { name: 'Team' });
    fake.say(group, alice, 'just chatting');
    const asked = fake.say(group, bob, { msgtype: 'm.text', body: 'Pincer: what do you think?', 'm.mentions': { user_ids: [fake.bot.userId] } });
    await eventually(() => fake.messages(group), (m) => m.length === 1, 20_000, 'the answer to the mention');
    expect(fake.messages(group)[0]).toMatchObject({ body: 're: what do you think?', 'm.relates_to': { 'm.in_reply_to': { event_id: asked.event_id } } });
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`matrix:default:${group.roomId.slice(1)}`)}`);
    expect(conversation.body.messages.map((m: { text: string; reply: unknown }) => [m.text, m.reply === null])).toEqual([
      ['just chatting', true],
      ['what do you think?', false],
    ]);
  });

  it('answers a thread in the thread, as a conversation of its own', async () => {
    const p = await boot({ groups: { '*': { require_mention: false } } });
    const carol = fake.world.user(`carol${next++}`);
    const dave = fake.world.user(`dave${next++}`);
    const group = fake.world.room([carol.userId, dave.userId, fake.bot.userId]);
    const root = fake.say(group, carol, 'a topic');
    await eventually(() => fake.messages(group), (m) => m.length === 1, 20_000, 'the answer to the root');
    fake.say(group, dave, { msgtype: 'm.text', body: 'in the thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root.event_id, is_falling_back: true, 'm.in_reply_to': { event_id: root.event_id } } });
    await eventually(() => fake.messages(group), (m) => m.length === 2, 20_000, 'the thread answer');
    expect(fake.messages(group)[1]).toMatchObject({ body: 're: in the thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root.event_id } });
    const thread = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`matrix:default:${group.roomId.slice(1)}:t${root.event_id.slice(1)}`)}`);
    expect(thread.body.messages).toEqual([expect.objectContaining({ text: 'in the thread' })]);
  });
});

describe('matrix: invites and refusals', () => {
  it('joins a stranger’s DM invite under pairing and gives a code', async () => {
    await boot({ dm_policy: 'pairing' });
    const stranger = fake.world.user(`stranger${next++}`);
    const room = fake.world.room([stranger.userId]);
    fake.world.invite(room, stranger.userId, fake.bot.userId, true);
    await eventually(() => room.members.get(fake.bot.userId), (m) => m === 'join', 20_000, 'the join');
    fake.say(room, stranger, 'hi bot');
    const [reply] = await eventually(() => fake.messages(room), (m) => m.length === 1, 20_000, 'the pairing code');
    expect(String(reply?.['body'])).toMatch(/pairing code is [A-HJ-NP-Z2-9]{8}/);
  });

  it('leaves a group invite from someone not allowed alone', async () => {
    await boot({ group_policy: 'allowlist' });
    const other = fake.world.user(`other${next++}`);
    const room = fake.world.room([other.userId]);
    fake.world.invite(room, other.userId, fake.bot.userId);
    const position = fake.world.position;
    // The bot's poller has seen the invite once it syncs from a token past it.
    await eventually(() => fake.confirmed.get(fake.bot.userId) ?? 0, (pos) => pos >= position, 20_000, 'a sync past the invite');
    expect(room.members.get(fake.bot.userId)).toBe('invite');
  });

  it('makes a refused token unavailable with a hint, without retrying', async () => {
    const p = await boot({ access_token: 'syt_revoked' });
    const status = p.pincer.channels.list().find((a) => a.channel === 'matrix');
    expect(status).toMatchObject({ state: 'unavailable', hint: expect.stringContaining('channels.matrix.accounts.default') });
    expect(status?.detail).toMatch(/M_UNKNOWN_TOKEN/);
  });

  it('reads MATRIX_ACCESS_TOKEN as the default account’s token', () => {
    const { dir, cleanup } = tempDir('pincer-matrix-env-');
    try {
      const { config } = loadConfig({ cwd: dir, env: { MATRIX_ACCESS_TOKEN: 'syt_from_env', PINCER_DATA_DIR: dir }, overrides: { channels: { matrix: { homeserver: 'https://matrix.example.org' } } } });
      expect((config.channels as unknown as { matrix: { accounts: { default: { access_token: string } } } }).matrix.accounts.default.access_token).toBe('syt_from_env');
    } finally {
      cleanup();
    }
  });
});
