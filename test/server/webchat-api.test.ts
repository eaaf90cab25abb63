import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_FILE } from '../../src/channels/webchat/secret.js';
import { signSession } from '../../src/channels/webchat/tokens.js';
import { ConfigError } from '../../src/errors.js';
import { eventually, getJson, postJson, type RunningPincer } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';
import { readSse } from '../support/sse.js';
import { openSession, startWithConfig } from '../support/webchat.js';

/**
 * The web chat's HTTP API on a started Pincer (SQLite), answered by the commands plugin's
 * /echo: sessions, origins and CORS, a session scoped to its own conversation, idempotent
 * retries, the per-visitor rate, and its place among the channels.
 */

const SHOP = 'https://shop.example';
const API_TOKEN = 'webchat-api-test-token';
const ADMIN_TOKEN = 'webchat-api-admin-token';
const CONFIG = `
channels:
  webchat:
    accounts:
      default:
        allowed_origins: ["${SHOP}"]
        rate: "3/min"
        title: Shop help
        greeting: "Hi! Ask me anything."
      other:
        allowed_origins: ["https://other.example"]
      off:
        allowed_origins: ["*"]
        enabled: false
      closed:
        allowed_origins: ["*"]
        dm_policy: disabled
`;

let bot: RunningPincer;

beforeAll(async () => {
  bot = await startWithConfig(CONFIG, { PINCER_API_TOKENS: API_TOKEN, PINCER_ADMIN_TOKENS: ADMIN_TOKEN });
});

afterAll(async () => {
  await bot?.close();
});

const api = (account: string, rest: string) => `${bot.url}/v1/webchat/${account}${rest}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}`, origin: SHOP });

async function session(account = 'default', origin = account === 'other' ? 'https://other.example' : SHOP): Promise<{ token: string; conversationId: string }> {
  const opened = await openSession(bot.url, account, origin);
  expect(opened.status).toBe(200);
  return opened.body;
}

async function send(token: string, text: string, headers: Record<string, string> = {}, account = 'default') {
  return postJson(api(account, '/messages'), { text }, { ...bearer(token), ...headers });
}

/** Follows a message's events to their end; the reply's text. */
async function replyOf(token: string, id: string): Promise<string | undefined> {
  const res = await fetch(api('default', `/messages/${id}/events`), { headers: bearer(token) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
  const events = await readSse(res);
  expect(events.at(-1)?.event).toBe('end');
  return events.find((e) => e.event === 'reply')?.data.text;
}

describe('the widget script', () => {
  it('is served publicly as cacheable JavaScript with an etag', async () => {
    const res = await fetch(`${bot.url}/widget.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(await res.text()).toContain('attachShadow');
    const again = await fetch(`${bot.url}/widget.js`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });
});

describe('web chat sessions', () => {
  it('opens a session for a page of an allowed origin, readable across origins', async () => {
    const before = Date.now();
    const opened = await openSession(bot.url, 'default', SHOP);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ title: 'Shop help', greeting: 'Hi! Ask me anything.' });
    expect(opened.body.token).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(opened.body.conversationId).toMatch(/^webchat:default:v_[\w-]{22}$/);
    const ttl = Date.parse(opened.body.expiresAt) - before;
    expect(ttl).toBeGreaterThan(24 * 3600_000 - 5_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000 + 1_000);
    expect(opened.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(opened.headers.get('vary')).toMatch(/origin/i);
    expect(opened.headers.get('cache-control')).toBe('no-store');
  });

  it('opens a session without a body too', async () => {
    const res = await fetch(api('default', '/sessions'), { method: 'POST', headers: { origin: SHOP } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { conversationId: string }).conversationId).toMatch(/^webchat:default:v_/);
  });

  it('refuses other origins and requests from no page, with a refusal the page can read', async () => {
    const refused = await openSession(bot.url, 'default', 'https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('WEBCHAT_ORIGIN_REFUSED');
    expect(refused.body.error.message).toContain('https://evil.example');
    expect(refused.body.token).toBeUndefined();
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://evil.example');
    const anonymous = await postJson(api('default', '/sessions'), {});
    expect(anonymous.status).toBe(403);
    expect(anonymous.body.error.code).toBe('WEBCHAT_ORIGIN_REFUSED');
  });

  it('answers WEBCHAT_DISABLED for an account that is not configured or not enabled', async () => {
    for (const account of ['nope', 'off']) {
      const res = await openSession(bot.url, account, SHOP);
      expect(res.status, account).toBe(404);
      expect(res.body.error.code, account).toBe('WEBCHAT_DISABLED');
    }
  });

  it('keeps a returning visitor with its valid token; a forged or expired one starts a new visitor', async () => {
    const first = await session();
    const again = await openSession(bot.url, 'default', SHOP, first.token);
    expect(again.body.conversationId).toBe(first.conversationId);
    const [v, payload, signature] = first.token.split('.');
    const forged = `${v}.${payload}.${signature!.slice(0, -2)}AA`;
    expect((await openSession(bot.url, 'default', SHOP, forged)).body.conversationId).not.toBe(first.conversationId);
    const visitor = first.conversationId.split(':')[2]!;
    const expired = signSession('not-the-secret-but-also-32-characters', { account: 'default', visitor, exp: 1 });
    expect((await openSession(bot.url, 'default', SHOP, expired)).body.conversationId).not.toBe(first.conversationId);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const preflight = (origin: string, rest = '/messages') =>
      fetch(api('default', rest), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' } });
    const ok = await preflight(SHOP);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(ok.headers.get('access-control-allow-headers')).toBe('authorization, content-type, idempotency-key');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(ok.headers.get('vary')).toMatch(/origin/i);
    const refused = await preflight('https://evil.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    // The session route's refusal is readable, so its preflight passes.
    expect((await preflight('https://evil.example', '/sessions')).headers.get('access-control-allow-origin')).toBe('https://evil.example');
  });
});

describe('a visitor\'s messages', () => {
  it('are committed as channel messages of the visitor\'s conversation and answered through the event stream', async () => {
    const visitor = await session();
    const sent = await send(visitor.token, '/echo hello from the shop');
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ conversationId: visitor.conversationId, status: expect.stringMatching(/queued|processing|done/) });
    expect(sent.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(await replyOf(visitor.token, sent.body.id)).toBe('hello from the shop');
    const record = await bot.pincer.store.messages.get(sent.body.id);
    expect(record).toMatchObject({ channel: 'webchat', conversationId: visitor.conversationId, sender: `webchat:${visitor.conversationId.split(':')[2]}` });
    // No outbox row: the visitor pulls the reply.
    expect((await bot.pincer.store.channels.deliveryCounts()).filter((c) => c.channel === 'webchat')).toEqual([]);

    const history = await getJson(api('default', '/conversation'), bearer(visitor.token));
    expect(history.status).toBe(200);
    expect(history.body).toEqual({
      conversationId: visitor.conversationId,
      messages: [{ id: sent.body.id, text: '/echo hello from the shop', status: 'done', createdAt: expect.any(String), reply: { text: 'hello from the shop' } }],
    });
  });

  it('need a valid session token of the account', async () => {
    const visitor = await session();
    for (const headers of [{ origin: SHOP } as Record<string, string>, { origin: SHOP, authorization: 'Bearer nonsense' }, { origin: SHOP, authorization: `Bearer ${visitor.token}x` }, { origin: SHOP, authorization: `Bearer ${API_TOKEN}` }]) {
      const res = await postJson(api('default', '/messages'), { text: 'hi' }, headers);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('WEBCHAT_SESSION_INVALID');
    }
    // An expired token of this very account (the secret is the data dir's).
    const expired = await postJson(api('default', '/messages'), { text: 'hi' }, bearer(signSession(secret(), { account: 'default', visitor: visitor.conversationId.split(':')[2]!, exp: Math.floor(Date.now() / 1000) - 1 })));
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/expired/);
    // And a session token is no API token.
    expect((await getJson(`${bot.url}/v1/conversations/${encodeURIComponent(visitor.conversationId)}`, { authorization: `Bearer ${visitor.token}` })).status).toBe(401);
  });

  it('are refused from a page of another origin even with a token', async () => {
    const visitor = await session();
    const res = await send(visitor.token, 'hi', { origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('WEBCHAT_ORIGIN_REFUSED');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('validate the text', async () => {
    const visitor = await session();
    for (const body of [{}, { text: '' }, { text: '   ' }, { text: 'x'.repeat(bot.pincer.config.server.max_text_length + 1) }, { text: 'hi', conversationId: 'someone-else' }]) {
      const res = await postJson(api('default', '/messages'), body, bearer(visitor.token));
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('a session is scoped to its own conversation', () => {
  it("cannot follow or list another visitor's messages, nor probe ids", async () => {
    const alice = await session();
    const bob = await session();
    const sent = await send(alice.token, '/echo private to alice');
    expect(sent.status).toBe(202);
    const stolen = await fetch(api('default', `/messages/${sent.body.id}/events`), { headers: bearer(bob.token) });
    expect(stolen.status).toBe(403);
    expect(((await stolen.json()) as { error: { code: string } }).error.code).toBe('WEBCHAT_FORBIDDEN');
    const missing = await getJson(api('default', '/messages/0000000000000-nothing/events'), bearer(bob.token));
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('WEBCHAT_FORBIDDEN');
    const bobs = await getJson(api('default', '/conversation'), bearer(bob.token));
    expect(bobs.body).toEqual({ conversationId: bob.conversationId, messages: [] });
    expect(await replyOf(alice.token, sent.body.id)).toBe('private to alice');
  });

  it("cannot use another account's session, though both accounts sign with the data dir's secret", async () => {
    const alice = await session();
    const sent = await send(alice.token, '/echo on default');
    const outsider = await session('other');
    const viaDefault = await getJson(api('default', `/messages/${sent.body.id}/events`), bearer(outsider.token));
    expect(viaDefault.status).toBe(403);
    expect(viaDefault.body.error.code).toBe('WEBCHAT_FORBIDDEN');
    const write = await send(outsider.token, 'hi');
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('WEBCHAT_FORBIDDEN');
    // Nor the other way round: default's token on the other account.
    const back = await getJson(api('other', '/conversation'), { authorization: `Bearer ${alice.token}`, origin: 'https://other.example' });
    expect(back.status).toBe(403);
  });
});

describe('idempotency and rate', () => {
  it('makes a retried POST with the same Idempotency-Key one message', async () => {
    const visitor = await session();
    const first = await send(visitor.token, '/echo once', { 'idempotency-key': 'msg-1' });
    const retry = await send(visitor.token, '/echo once', { 'idempotency-key': 'msg-1' });
    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(first.body.id);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('access-control-expose-headers')).toContain('idempotent-replayed');
    // Another visitor's same key is its own message.
    const other = await session();
    const theirs = await send(other.token, '/echo once', { 'idempotency-key': 'msg-1' });
    expect(theirs.body.id).not.toBe(first.body.id);
    await replyOf(visitor.token, first.body.id);
    const history = await getJson(api('default', '/conversation'), bearer(visitor.token));
    expect(history.body.messages.map((m: { id: string }) => m.id)).toEqual([first.body.id]);
  });

  it("answers 429 with Retry-After past the visitor's rate, for that visitor only", async () => {
    const visitor = await session();
    for (let i = 0; i < 3; i++) expect((await send(visitor.token, `/echo ${i}`)).status).toBe(202);
    const limited = await send(visitor.token, '/echo one too many');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('WEBCHAT_RATE_LIMITED');
    const wait = Number(limited.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect(limited.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(limited.headers.get('access-control-expose-headers')).toContain('retry-after');
    const history = await getJson(api('default', '/conversation'), bearer(visitor.token));
    expect(history.body.messages).toHaveLength(3);
    expect((await send((await session()).token, '/echo someone else')).status).toBe(202);
  });
});

describe('the web chat among the channels', () => {
  it('follows the access policy: dm_policy disabled answers nobody', async () => {
    const opened = await openSession(bot.url, 'closed', SHOP);
    const res = await postJson(api('closed', '/messages'), { text: 'hi' }, { authorization: `Bearer ${opened.body.token}`, origin: SHOP });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('WEBCHAT_FORBIDDEN');
    expect(res.body.error.message).toMatch(/dm_policy is disabled/);
  });

  it('runs no account transport: not in the channel list, not in /ready', async () => {
    const channels = await getJson(`${bot.url}/v1/admin/channels`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(channels.status).toBe(200);
    expect(JSON.stringify(channels.body)).not.toContain('webchat');
    const ready = await getJson(`${bot.url}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.stringify(ready.body)).not.toContain('webchat');
  });

  it('keeps the generated secret in the data dir, mode 0600', () => {
    expect(statSync(path.join(bot.dataDir, SECRET_FILE)).mode & 0o777).toBe(0o600);
  });
});

const secret = (): string => readFileSync(path.join(bot.dataDir, SECRET_FILE), 'utf8').trim();

describe('the web chat on PostgreSQL', () => {
  it('refuses to start without a session_secret, and with one any node verifies and follows', async () => {
    const schema = await freshSchema();
    try {
      const env = { PINCER_STORE: storeUrl(schema) };
      await expect(startWithConfig(CONFIG, env)).rejects.toThrow(ConfigError);
      await expect(startWithConfig(CONFIG, env)).rejects.toThrow(/channels\.webchat\.accounts\.default\.session_secret = missing: required when the store is PostgreSQL/);
      const shared = `
channels:
  webchat:
    accounts:
      default:
        allowed_origins: ["${SHOP}"]
        session_secret: "a-shared-secret-of-at-least-32-characters"
`;
      const a = await startWithConfig(shared, env);
      const b = await startWithConfig(shared, env);
      try {
        const opened = await openSession(a.url, 'default', SHOP);
        const sent = await postJson(`${b.url}/v1/webchat/default/messages`, { text: '/echo across nodes' }, bearer(opened.body.token));
        expect(sent.status).toBe(202);
        const res = await fetch(`${a.url}/v1/webchat/default/messages/${sent.body.id}/events`, { headers: bearer(opened.body.token) });
        expect(res.status).toBe(200);
        const events = await readSse(res);
        expect(events.find((e) => e.event === 'reply')?.data.text).toBe('across nodes');
        const history = await eventually(() => getJson(`${b.url}/v1/webchat/default/conversation`, bearer(opened.body.token)), (r) => r.body.messages?.[0]?.reply !== null);
        expect(history.body.messages).toHaveLength(1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      await dropSchema(schema);
    }
  }, 60_000);
});
