import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MatrixFake, type FakeRoom, type FakeUser } from '../../support/fakes/matrix.js';

let fake: MatrixFake;
let alice: FakeUser;
let dm: FakeRoom;
let clock: number;

type Answer = { status: number; body: Record<string, unknown> };

async function api(method: string, path: string, options: { token?: string | null; body?: unknown; query?: Record<string, string> } = {}): Promise<Answer> {
  const url = new URL(`${fake.url}/_matrix/client/v3${path}`);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const token = options.token === undefined ? fake.bot.token : options.token;
  const res = await fetch(url, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const room = (id: string): string => encodeURIComponent(id);
type Joined = Record<string, { timeline: { events: Array<{ event_id: string; content: Record<string, unknown> }>; limited: boolean }; summary?: Record<string, number> }>;
const joinedOf = (body: Record<string, unknown>): Joined => (body.rooms as { join: Joined }).join;

beforeEach(async () => {
  clock = 1_700_000_000_000;
  fake = new MatrixFake({ now: () => clock });
  await fake.start();
  alice = fake.world.user('alice', 'Alice');
  dm = fake.directRoom(alice);
});

afterEach(async () => {
  await fake.stop();
});

describe('Matrix fake: identity and tokens', () => {
  it('answers whoami for a known token, 401 M_UNKNOWN_TOKEN for another and M_MISSING_TOKEN without one', async () => {
    expect((await api('GET', '/account/whoami')).body).toMatchObject({ user_id: '@pincer:example.org' });
    expect(await api('GET', '/account/whoami', { token: 'nope' })).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
    expect(await api('GET', '/account/whoami', { token: null })).toMatchObject({ status: 401, body: { errcode: 'M_MISSING_TOKEN' } });
    // The query parameter form is accepted too.
    expect((await api('GET', '/account/whoami', { token: null, query: { access_token: alice.token } })).body).toMatchObject({ user_id: alice.userId });
  });

  it('serves profiles, m.direct account data (own only) and joined members', async () => {
    expect((await api('GET', `/profile/${room(fake.bot.userId)}`)).body).toEqual({ displayname: 'Pincer' });
    expect((await api('GET', `/user/${room(fake.bot.userId)}/account_data/m.direct`)).body).toEqual({ [alice.userId]: [dm.roomId] });
    expect((await api('GET', `/user/${room(alice.userId)}/account_data/m.direct`)).status).toBe(403);
    expect((await api('GET', `/user/${room(fake.bot.userId)}/account_data/m.other`)).body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    expect(Object.keys((await api('GET', `/rooms/${room(dm.roomId)}/joined_members`)).body.joined as object).sort()).toEqual([alice.userId, fake.bot.userId].sort());
  });
});

describe('Matrix fake: sync', () => {
  it('an initial sync gives the latest events and a token; a sync since it gives only what came after', async () => {
    fake.say(dm, alice, 'before');
    const first = await api('GET', '/sync', { query: { timeout: '0' } });
    expect(joinedOf(first.body)[dm.roomId]!.timeline.events.map((e) => e.content.body)).toContain('before');
    expect(first.body.account_data).toMatchObject({ events: [{ type: 'm.direct' }] });
    const after = fake.say(dm, alice, 'after');
    const next = await api('GET', '/sync', { query: { since: String(first.body.next_batch), timeout: '0' } });
    expect(joinedOf(next.body)[dm.roomId]!.timeline.events.map((e) => e.event_id)).toEqual([after.event_id]);
    // Asking from the first token again gives the same event again: the client chose not to move on.
    const again = await api('GET', '/sync', { query: { since: String(first.body.next_batch), timeout: '0' } });
    expect(joinedOf(again.body)[dm.roomId]!.timeline.events.map((e) => e.event_id)).toEqual([after.event_id]);
    expect(fake.confirmedPast(after)).toBe(false);
    await api('GET', '/sync', { query: { since: String(next.body.next_batch), timeout: '0' } });
    expect(fake.confirmedPast(after)).toBe(true);
  });

  it('holds a long poll until an event arrives', async () => {
    const { body } = await api('GET', '/sync', { query: { timeout: '0' } });
    const waiting = api('GET', '/sync', { query: { since: String(body.next_batch), timeout: '10000' } });
    for (let i = 0; i < 500 && fake.parkedSyncs === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(fake.parkedSyncs).toBe(1);
    const started = Date.now();
    const event = fake.say(dm, alice, 'wake up');
    const answer = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(joinedOf(answer.body)[dm.roomId]!.timeline.events.map((e) => e.event_id)).toEqual([event.event_id]);
  });

  it('answers an empty batch with the same token when the timeout passes', async () => {
    const { body } = await api('GET', '/sync', { query: { timeout: '0' } });
    const idle = await api('GET', '/sync', { query: { since: String(body.next_batch), timeout: '50' } });
    expect(idle.body.next_batch).toBe(body.next_batch);
    expect(joinedOf(idle.body)).toEqual({});
  });

  it("applies a filter's timeline limit and types, marking a cut timeline limited", async () => {
    const { body } = await api('GET', '/sync', { query: { timeout: '0' } });
    for (let i = 0; i < 5; i++) fake.say(dm, alice, `m${i}`);
    const filter = JSON.stringify({ room: { timeline: { limit: 2, types: ['m.room.message'] } } });
    const cut = await api('GET', '/sync', { query: { since: String(body.next_batch), timeout: '0', filter } });
    const timeline = joinedOf(cut.body)[dm.roomId]!.timeline;
    expect(timeline.events.map((e) => e.content.body)).toEqual(['m3', 'm4']);
    expect(timeline.limited).toBe(true);
  });

  it('reports invites, and after a join the room with its member count', async () => {
    const { body } = await api('GET', '/sync', { query: { timeout: '0' } });
    const group = fake.world.room([alice.userId], { name: 'Readers' });
    fake.world.invite(group, alice.userId, fake.bot.userId);
    const invited = await api('GET', '/sync', { query: { since: String(body.next_batch), timeout: '0' } });
    const invite = (invited.body.rooms as { invite: Record<string, { invite_state: { events: Array<{ sender: string; state_key: string }> } }> }).invite[group.roomId];
    expect(invite?.invite_state.events).toEqual([expect.objectContaining({ sender: alice.userId, state_key: fake.bot.userId })]);
    expect(await api('POST', `/join/${room(group.roomId)}`, { body: {} })).toMatchObject({ status: 200, body: { room_id: group.roomId } });
    const joined = await api('GET', '/sync', { query: { since: String(invited.body.next_batch), timeout: '0' } });
    expect(joinedOf(joined.body)[group.roomId]?.summary).toEqual({ 'm.joined_member_count': 2, 'm.invited_member_count': 0 });
    // A room never invited to cannot be joined.
    const other = fake.world.room([alice.userId]);
    expect(await api('POST', `/join/${room(other.roomId)}`, { body: {} })).toMatchObject({ status: 403, body: { errcode: 'M_FORBIDDEN' } });
  });
});

describe('Matrix fake: sends', () => {
  const send = (roomId: string, txn: string, content: Record<string, unknown>, token?: string) => api('PUT', `/rooms/${room(roomId)}/send/m.room.message/${encodeURIComponent(txn)}`, { body: content, ...(token ? { token } : {}) });

  it('answers a repeated transaction id with the first event and posts nothing more', async () => {
    const first = await send(dm.roomId, 'txn-1', { msgtype: 'm.text', body: 'hi' });
    const again = await send(dm.roomId, 'txn-1', { msgtype: 'm.text', body: 'hi' });
    expect(again.body.event_id).toBe(first.body.event_id);
    expect(fake.messages(dm)).toEqual([{ msgtype: 'm.text', body: 'hi' }]);
    expect(fake.sends.map((s) => s.duplicate)).toEqual([false, true]);
    // The same id from another access token is another transaction.
    await send(dm.roomId, 'txn-1', { msgtype: 'm.text', body: 'mine' }, alice.token);
    expect(fake.messages(dm, alice.userId)).toEqual([{ msgtype: 'm.text', body: 'mine' }]);
  });

  it('shows an m.replace edit in place of the message', async () => {
    const { body } = await send(dm.roomId, 't1', { msgtype: 'm.text', body: 'draft' });
    await send(dm.roomId, 't2', { msgtype: 'm.text', body: '* final', 'm.new_content': { msgtype: 'm.text', body: 'final' }, 'm.relates_to': { rel_type: 'm.replace', event_id: body.event_id } });
    expect(fake.messages(dm)).toEqual([{ msgtype: 'm.text', body: 'final' }]);
  });

  it('refuses a room the sender is not in (403), an event over 65,536 bytes (413) and a body that is not a string', async () => {
    const outside = fake.world.room([alice.userId]);
    expect(await send(outside.roomId, 't', { msgtype: 'm.text', body: 'x' })).toMatchObject({ status: 403, body: { errcode: 'M_FORBIDDEN' } });
    expect(await send(dm.roomId, 't2', { msgtype: 'm.text', body: 'x'.repeat(70_000) })).toMatchObject({ status: 413, body: { errcode: 'M_TOO_LARGE' } });
    expect(await send(dm.roomId, 't3', { msgtype: 'm.text', body: 5 })).toMatchObject({ status: 400, body: { errcode: 'M_BAD_JSON' } });
    expect(fake.messages(dm)).toEqual([]);
  });

  it('rate-limits a sender past its burst with 429 M_LIMIT_EXCEEDED and retry_after_ms', async () => {
    await fake.stop();
    fake = new MatrixFake({ now: () => clock, rateLimit: { perSecond: 0.5, burst: 2 } });
    await fake.start();
    const bob = fake.world.user('bob');
    const r = fake.directRoom(bob);
    expect((await send(r.roomId, 'a', { msgtype: 'm.text', body: '1' })).status).toBe(200);
    expect((await send(r.roomId, 'b', { msgtype: 'm.text', body: '2' })).status).toBe(200);
    expect(await send(r.roomId, 'c', { msgtype: 'm.text', body: '3' })).toMatchObject({ status: 429, body: { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 2000 } });
    expect(fake.violations).toHaveLength(1);
    clock += 2000;
    expect((await send(r.roomId, 'c', { msgtype: 'm.text', body: '3' })).status).toBe(200);
  });

  it('records typing of the caller only', async () => {
    expect((await api('PUT', `/rooms/${room(dm.roomId)}/typing/${room(fake.bot.userId)}`, { body: { typing: true, timeout: 30000 } })).status).toBe(200);
    expect((await api('PUT', `/rooms/${room(dm.roomId)}/typing/${room(alice.userId)}`, { body: { typing: true } })).status).toBe(403);
    expect(fake.typing).toEqual([{ roomId: dm.roomId, userId: fake.bot.userId, typing: true, timeout: 30000 }]);
  });
});

describe('Matrix fake: faults', () => {
  it('scripts a status, a 429, a delay and a drop after processing', async () => {
    fake.fault('send', { kind: 'status', status: 502 });
    fake.fault('send', { kind: 'rate_limit', retryAfterMs: 1500 });
    fake.fault('send', { kind: 'drop' });
    const put = () => fetch(`${fake.url}/_matrix/client/v3/rooms/${room(dm.roomId)}/send/m.room.message/tx`, { method: 'PUT', headers: { authorization: `Bearer ${fake.bot.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ msgtype: 'm.text', body: 'x' }) });
    expect((await put()).status).toBe(502);
    const limited = await put();
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 1500 });
    await expect(put()).rejects.toThrow();
    // The dropped call was processed: the message is there, and its retry is deduplicated.
    expect(fake.messages(dm)).toHaveLength(1);
    expect((await put()).status).toBe(200);
    expect(fake.messages(dm)).toHaveLength(1);
    fake.fault('whoami', { kind: 'delay', ms: 100 });
    const started = Date.now();
    await api('GET', '/account/whoami');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });
});
