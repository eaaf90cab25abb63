/**
 * The Discord fake against the real @discordjs/rest and @discordjs/ws, unmodified: what the
 * channel's tests rely on it for.
 */
import { DiscordAPIError, RateLimitError, REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../support/fakes/discord-io.js';
import { DiscordFake } from '../../support/fakes/discord.js';

let fake: DiscordFake;
let managers: WebSocketManager[];

beforeEach(async () => {
  fake = new DiscordFake({ heartbeatIntervalMs: 200 });
  await fake.start();
  managers = [];
});

afterEach(async () => {
  for (const m of managers) await m.destroy({ code: 4000 });
  await fake.stop();
});

const rest = (token = fake.token) => new REST({ api: fake.url, version: '10', retries: 0, rejectOnRateLimit: () => true }).setToken(token);

function manager(intents = 1 << 9): { m: WebSocketManager; dispatches: Array<{ t: string; s: number }> } {
  const dispatches: Array<{ t: string; s: number }> = [];
  const m = new WebSocketManager({ token: fake.token, intents, rest: rest(), shardCount: 1 });
  m.on(WebSocketShardEvents.Dispatch, (d) => dispatches.push({ t: d.t, s: d.s }));
  managers.push(m);
  return { m, dispatches };
}

describe('Discord fake: REST', () => {
  it('serves /gateway/bot and /users/@me, and refuses a wrong token with 401', async () => {
    expect(await rest().get('/gateway/bot')).toMatchObject({ url: fake.gateway.url, shards: 1 });
    expect(await rest().get('/users/@me')).toMatchObject({ id: fake.bot.id, bot: true });
    await expect(rest('nope').get('/users/@me')).rejects.toMatchObject({ status: 401 });
  });

  it('creates messages within 2,000 characters, and a repeated enforced nonce returns the first message', async () => {
    const dm = fake.dm(fake.user(1));
    const a = (await rest().post(`/channels/${dm.id}/messages`, { body: { content: 'hi', nonce: 'n1', enforce_nonce: true } })) as { id: string };
    const b = (await rest().post(`/channels/${dm.id}/messages`, { body: { content: 'hi', nonce: 'n1', enforce_nonce: true } })) as { id: string };
    expect(b.id).toBe(a.id);
    // Without enforce_nonce the nonce is only echoed: a second message is made.
    await rest().post(`/channels/${dm.id}/messages`, { body: { content: 'hi', nonce: 'n1' } });
    expect(fake.sentIn(dm.id)).toHaveLength(2);
    const long = await rest().post(`/channels/${dm.id}/messages`, { body: { content: 'x'.repeat(2001) } }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(DiscordAPIError);
    expect(long).toMatchObject({ status: 400, code: 50035 });
    await expect(rest().post(`/channels/${dm.id}/messages`, { body: { content: 'x', nonce: 'n'.repeat(26) } })).rejects.toMatchObject({ code: 50035 });
    await expect(rest().post('/channels/1/messages', { body: { content: 'x' } })).rejects.toMatchObject({ status: 404, code: 10003 });
  });

  it('limits a channel to 5 messages per 5 s with X-RateLimit headers the library reads', async () => {
    const dm = fake.dm(fake.user(2));
    const client = rest();
    for (let i = 0; i < 5; i++) await client.post(`/channels/${dm.id}/messages`, { body: { content: `m${i}` } });
    // The library saw Remaining: 0 and refuses the sixth itself, with the wait.
    const sixth = await client.post(`/channels/${dm.id}/messages`, { body: { content: 'm5' } }).catch((e: unknown) => e);
    expect(sixth).toBeInstanceOf(RateLimitError);
    expect((sixth as RateLimitError).timeToReset).toBeGreaterThan(0);
    // A client that has not seen the headers gets Discord's 429.
    const fresh = await rest().post(`/channels/${dm.id}/messages`, { body: { content: 'm5' } }).catch((e: unknown) => e);
    expect(fresh).toBeInstanceOf(RateLimitError);
    expect(fake.calls.filter((c) => c.status === 429)).toHaveLength(1);
    expect(fake.sentIn(dm.id)).toHaveLength(5);
  });
});

describe('Discord fake: gateway', () => {
  it('HELLO, IDENTIFY, READY, heartbeats, and MESSAGE_CREATE with increasing s', async () => {
    const { m, dispatches } = manager();
    await m.connect();
    const user = fake.user(3);
    fake.post(fake.dm(user), user, 'one');
    fake.post(fake.dm(user), user, 'two');
    await until(() => dispatches.length === 3, 'READY and two messages');
    expect(dispatches).toEqual([{ t: 'READY', s: 1 }, { t: 'MESSAGE_CREATE', s: 2 }, { t: 'MESSAGE_CREATE', s: 3 }]);
    await until(() => fake.gateway.received.some((f) => f.op === 1), 'a heartbeat');
  });

  it('RECONNECT: the library resumes and gets what it missed, then RESUMED', async () => {
    const { m, dispatches } = manager();
    await m.connect();
    fake.gateway.reconnect();
    const user = fake.user(4);
    fake.post(fake.dm(user), user, 'while away');
    await until(() => dispatches.some((d) => d.t === 'RESUMED'), 'RESUMED');
    expect(fake.gateway.count(6)).toBe(1);
    expect(dispatches.filter((d) => d.t === 'MESSAGE_CREATE')).toHaveLength(1);
  });

  it('INVALID_SESSION: the library identifies afresh', async () => {
    const { m, dispatches } = manager();
    await m.connect();
    fake.gateway.invalidate();
    await until(() => fake.gateway.count(2) === 2, 'a second IDENTIFY');
    await until(() => dispatches.filter((d) => d.t === 'READY').length === 2, 'a second READY');
  });

  it('closes 4004 for a wrong token and 4014 for a privileged intent not enabled', async () => {
    const closed: number[] = [];
    const wrong = new WebSocketManager({ token: 'wrong', intents: 0, rest: rest(), shardCount: 1 });
    managers.push(wrong);
    wrong.on(WebSocketShardEvents.Closed, (code) => closed.push(code));
    wrong.on(WebSocketShardEvents.Error, () => {});
    void wrong.connect().catch(() => {});
    await until(() => closed.includes(4004), 'close 4004');
    fake.messageContentAllowed = false;
    const { m } = manager(1 << 15);
    const codes: number[] = [];
    m.on(WebSocketShardEvents.Closed, (code) => codes.push(code));
    m.on(WebSocketShardEvents.Error, () => {});
    void m.connect().catch(() => {});
    await until(() => codes.includes(4014), 'close 4014');
  });
});

describe('Discord fake: interactions', () => {
  const refusal = async (call: Promise<unknown>): Promise<DiscordAPIError> => {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DiscordAPIError);
    return err as DiscordAPIError;
  };
  const echo = { type: 1, name: 'echo', description: 'repeat your text', options: [{ type: 3, name: 'text', description: 'what to repeat' }] };

  it('takes a bulk overwrite of valid commands only, for its own application, with the bot token', async () => {
    const r = rest();
    const path = `/applications/${fake.applicationId}/commands` as const;
    expect(await r.put(path, { body: [echo] })).toMatchObject([{ name: 'echo', application_id: fake.applicationId, options: [{ name: 'text', required: false }] }]);
    expect(await r.get(path)).toHaveLength(1);
    for (const [body, field] of [
      [[{ ...echo, name: 'Echo' }], 'name'],
      [[{ ...echo, name: 'x'.repeat(33) }], 'name'],
      [[{ ...echo, description: '' }], 'description'],
      [[echo, echo], 'name'],
    ] as const) {
      const err = await refusal(r.put(path, { body }));
      expect(err).toMatchObject({ status: 400, code: 50035 });
      expect(JSON.stringify(err.rawError)).toContain(`"${field}"`);
    }
    expect(await refusal(r.get(`/applications/${fake.bot.id}/commands`))).toMatchObject({ status: 403, code: 50001 });
    expect(await refusal(rest('wrong').get(path))).toMatchObject({ status: 401 });
    // An overwrite that repeats a command creates nothing.
    await r.put(path, { body: [echo] });
    expect(fake.interactions.creates).toBe(1);
  });

  it('takes one callback per interaction within 3 s; the webhook edits @original for 15 minutes', async () => {
    await rest().put(`/applications/${fake.applicationId}/commands`, { body: [echo] });
    const user = fake.user(1, 'alice');
    const dm = fake.dm(user);
    const open = new REST({ api: fake.url, version: '10', retries: 0, rejectOnRateLimit: () => true });
    const slash = fake.interactions.slash(dm, user, 'echo', 'hi');
    const callback = (id: string, token: string, type: number) => open.post(`/interactions/${id}/${token}/callback`, { body: { type }, auth: false });
    // Type 6 is for a component's message; a slash command has none.
    expect(await refusal(callback(slash.id, slash.token, 6))).toMatchObject({ status: 400, code: 50035 });
    await callback(slash.id, slash.token, 5);
    expect(await refusal(callback(slash.id, slash.token, 5))).toMatchObject({ status: 400, code: 40060 });
    expect(fake.sentIn(dm.id)).toEqual([expect.objectContaining({ content: '', type: 20 })]);
    const edited = (await open.patch(`/webhooks/${fake.applicationId}/${slash.token}/messages/@original`, { body: { content: 'hi' }, auth: false })) as { id: string; content: string };
    expect(edited).toMatchObject({ id: slash.original!.id, content: 'hi', flags: 0 });
    expect(await refusal(open.patch(`/webhooks/${fake.applicationId}/not-a-token/messages/@original`, { body: { content: 'x' }, auth: false }))).toMatchObject({ status: 401, code: 50027 });

    const late = fake.interactions.slash(dm, user, 'echo', undefined, Date.now() - 4_000);
    expect(await refusal(callback(late.id, late.token, 5))).toMatchObject({ status: 404, code: 10062 });
    const expired = fake.interactions.slash(dm, user, 'echo', undefined, Date.now() - 16 * 60_000);
    expect(await refusal(open.patch(`/webhooks/${fake.applicationId}/${expired.token}/messages/@original`, { body: { content: 'x' }, auth: false }))).toMatchObject({ status: 401, code: 50027 });
    // Ids are snowflakes of their time: the backdated one says when it was made.
    expect(Number((BigInt(expired.id) >> 22n) + 1_420_070_400_000n)).toBeLessThan(Date.now() - 15 * 60_000);
  });
});
