import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseRate } from '../../src/channels/webchat/config.js';
import { visitorEvent } from '../../src/channels/webchat/inbound.js';
import { originAllowed } from '../../src/channels/webchat/origins.js';
import { VisitorRateLimiter } from '../../src/channels/webchat/rate.js';
import { SECRET_FILE, sessionSecret } from '../../src/channels/webchat/secret.js';
import { StreamedSoFar } from '../../src/channels/webchat/so-far.js';
import { LocalMessageEvents } from '../../src/events/local.js';
import { newVisitorId, signSession, verifySession } from '../../src/channels/webchat/tokens.js';
import { checkEvent } from '../../src/channels/inbound.js';
import { conversationIdOf } from '../../src/channels/ids.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { ManualClock, tempDir } from '../support/index.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const log = pino({ level: 'silent' });

describe('web chat session tokens', () => {
  const now = 1_700_000_000_000;
  const claims = { account: 'default', visitor: newVisitorId(), exp: now / 1000 + 3600 };

  it('verifies its own token and returns the claims', () => {
    const token = signSession(SECRET, claims);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(verifySession(SECRET, token, now)).toEqual({ ok: true, claims });
  });

  it('refuses a token signed with another secret', () => {
    const token = signSession('another-secret-also-32-characters-long', claims);
    expect(verifySession(SECRET, token, now)).toEqual({ ok: false, reason: 'signature' });
  });

  it('refuses a tampered payload: another visitor, account or expiry under the old signature', () => {
    const [version, , signature] = signSession(SECRET, claims).split('.');
    for (const forged of [{ ...claims, visitor: newVisitorId() }, { ...claims, account: 'other' }, { ...claims, exp: claims.exp + 86_400 }]) {
      const payload = Buffer.from(JSON.stringify(forged)).toString('base64url');
      expect(verifySession(SECRET, `${version}.${payload}.${signature}`, now)).toEqual({ ok: false, reason: 'signature' });
    }
  });

  it('refuses every single-character change of the signature, including the spare bits of its last character', () => {
    const token = signSession(SECRET, claims);
    const cut = token.lastIndexOf('.') + 1;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = cut; i < token.length; i++) {
      const other = alphabet[(alphabet.indexOf(token[i] as string) + 1) % alphabet.length];
      const tampered = token.slice(0, i) + other + token.slice(i + 1);
      expect(verifySession(SECRET, tampered, now).ok, `position ${i}`).toBe(false);
    }
  });

  it('refuses an expired token, from its expiry second on', () => {
    const token = signSession(SECRET, claims);
    expect(verifySession(SECRET, token, claims.exp * 1000 - 1).ok).toBe(true);
    expect(verifySession(SECRET, token, claims.exp * 1000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses malformed tokens without throwing', () => {
    const good = signSession(SECRET, claims);
    const [, payload, signature] = good.split('.');
    for (const bad of ['', 'v1', 'v1..', `v2.${payload}.${signature}`, `v1.${payload}`, `${good}.x`, `v1.${payload}.${signature}==`, 'v1.!!!.abc']) {
      expect(verifySession(SECRET, bad, now), bad).toEqual({ ok: false, reason: 'malformed' });
    }
    // Signed, but not a session's claims.
    const notClaims = `v1.${Buffer.from('{"account":"default","visitor":"me","exp":1}').toString('base64url')}`;
    const signed = signSession(SECRET, claims);
    expect(verifySession(SECRET, signed.replace(/^v1\.[^.]+/, notClaims), now).ok).toBe(false);
  });

  it('makes visitor ids that are unguessable and never repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, newVisitorId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^v_[A-Za-z0-9_-]{22}$/);
  });
});

describe('web chat origins', () => {
  it('allows only the exact configured origins', () => {
    const allowed = ['https://shop.example', 'http://127.0.0.1:8080'];
    expect(originAllowed(allowed, 'https://shop.example')).toBe(true);
    expect(originAllowed(allowed, 'http://127.0.0.1:8080')).toBe(true);
    for (const other of ['http://shop.example', 'https://shop.example:444', 'https://evil.shop.example', 'https://shop.example.evil', 'http://127.0.0.1:8081', 'null', '', undefined]) {
      expect(originAllowed(allowed, other), String(other)).toBe(false);
    }
  });

  it('"*" allows any page', () => {
    expect(originAllowed(['*'], 'https://anything.example')).toBe(true);
    expect(originAllowed(['*'], undefined)).toBe(false);
  });
});

describe('web chat rate limit', () => {
  it('lets a visitor send the rate in any window, then says how long to wait; visitors and accounts are apart', () => {
    const clock = new ManualClock();
    const limiter = new VisitorRateLimiter(clock.now);
    const rate = parseRate('3/min')!;
    for (let i = 0; i < 3; i++) expect(limiter.take('default', 'v_a', rate)).toBe(0);
    clock.advance(20_000);
    expect(limiter.take('default', 'v_a', rate)).toBe(40_000);
    // Someone else, or the same visitor id on another account, is not held back.
    expect(limiter.take('default', 'v_b', rate)).toBe(0);
    expect(limiter.take('other', 'v_a', rate)).toBe(0);
    // A refused attempt took no slot: once the first sends are a minute old, three more fit.
    clock.advance(40_000);
    for (let i = 0; i < 3; i++) expect(limiter.take('default', 'v_a', rate)).toBe(0);
    expect(limiter.take('default', 'v_a', rate)).toBe(60_000);
  });

  it('reads rates per second and per minute only', () => {
    expect(parseRate('10/min')).toEqual({ limit: 10, intervalMs: 60_000 });
    expect(parseRate('2 / s')).toEqual({ limit: 2, intervalMs: 1_000 });
    for (const bad of ['10', '0/min', '10/hour', '-1/s', '1.5/s', 'ten/min']) expect(parseRate(bad), bad).toBeUndefined();
  });
});

describe("a visitor's message as an inbound event", () => {
  it('is a direct message from the visitor to the bot, its event id the Idempotency-Key under the visitor', () => {
    const visitor = newVisitorId();
    const event = visitorEvent({ visitor, text: 'hello', idempotencyKey: 'k-1', now: 42 });
    expect(checkEvent(event)).toEqual({ ok: true, event });
    expect(event).toMatchObject({ eventId: `${visitor}:k-1`, kind: 'message', conversation: { kind: 'direct', id: visitor }, sender: { id: visitor, isBot: false }, text: 'hello', mentions: { bot: true }, timestamp: 42 });
    expect(conversationIdOf('webchat', 'default', event.conversation)).toBe(`webchat:default:${visitor}`);
    expect(visitorEvent({ visitor, text: '/help', idempotencyKey: undefined, now: 1 }).kind).toBe('command');
    // Without a key each message is its own; the same key from two visitors is two events.
    expect(visitorEvent({ visitor, text: 'x', idempotencyKey: undefined, now: 1 }).eventId).not.toBe(visitorEvent({ visitor, text: 'x', idempotencyKey: undefined, now: 1 }).eventId);
    expect(visitorEvent({ visitor: newVisitorId(), text: 'x', idempotencyKey: 'k-1', now: 1 }).eventId).not.toBe(event.eventId);
  });

  it("carries the browser's time zone, which the ingress check keeps as Intl spells it, or drops", () => {
    const visitor = newVisitorId();
    const sender = (timeZone: string) => {
      const checked = checkEvent(visitorEvent({ visitor, text: 'what time is it', idempotencyKey: undefined, timeZone, now: 1 }));
      return checked.ok ? checked.event.sender : checked.problem;
    };
    expect(sender('Asia/Tokyo')).toEqual({ id: visitor, isBot: false, timeZone: 'Asia/Tokyo' });
    expect(sender('europe/berlin')).toEqual({ id: visitor, isBot: false, timeZone: 'Europe/Berlin' });
    // Not a zone: the message stands, without one.
    expect(sender('Mars/Olympus')).toEqual({ id: visitor, isBot: false });
    expect(sender('x'.repeat(200))).toEqual({ id: visitor, isBot: false });
  });
});

describe('the web chat session secret', () => {
  it('is made once on SQLite, kept with mode 0600, and read back after a restart', () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = sessionSecret({ configured: undefined, account: 'default', dataDir: dir, shared: false, log });
      expect(first.length).toBeGreaterThanOrEqual(32);
      expect(statSync(path.join(dir, SECRET_FILE)).mode & 0o777).toBe(0o600);
      expect(sessionSecret({ configured: undefined, account: 'other', dataDir: dir, shared: false, log })).toBe(first);
      expect(sessionSecret({ configured: SECRET, account: 'default', dataDir: dir, shared: false, log })).toBe(SECRET);
      writeFileSync(path.join(dir, SECRET_FILE), 'short\n');
      expect(() => sessionSecret({ configured: undefined, account: 'default', dataDir: dir, shared: false, log })).toThrow(ConfigError);
    } finally {
      cleanup();
    }
  });

  it('must be configured when several nodes share a PostgreSQL store', () => {
    expect(() => sessionSecret({ configured: undefined, account: 'shop', dataDir: '/nonexistent', shared: true, log })).toThrow(/channels\.webchat\.accounts\.shop\.session_secret = missing: required when the store is PostgreSQL/);
    expect(sessionSecret({ configured: SECRET, account: 'shop', dataDir: '/nonexistent', shared: true, log })).toBe(SECRET);
  });
});

describe('channels.webchat in the configuration', () => {
  const load = (webchat: unknown) => {
    const { dir, cleanup } = tempDir();
    try {
      return loadConfig({ cwd: dir, env: {}, overrides: { channels: { webchat } } as never }).config;
    } finally {
      cleanup();
    }
  };
  const problems = (webchat: unknown): string => {
    try {
      load(webchat);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.join('\n');
      throw err;
    }
    return '';
  };

  it('takes a minimal account and its defaults', () => {
    const config = load({ accounts: { default: { allowed_origins: ['https://shop.example'] } } });
    expect(config.channels.webchat?.accounts.default).toMatchObject({ allowed_origins: ['https://shop.example'] });
  });

  it('refuses pairing, with the reason', () => {
    expect(problems({ accounts: { default: { allowed_origins: ['*'], dm_policy: 'pairing' } } })).toMatch(/channels\.webchat\.accounts\.default\.dm_policy = "pairing".*pairing cannot work for anonymous web visitors.*open \(the default\), allowlist or disabled/);
    // Set on the channel, it is reported there.
    expect(problems({ dm_policy: 'pairing', accounts: { default: { allowed_origins: ['*'] } } })).toMatch(/^channels\.webchat\.dm_policy = "pairing"/m);
  });

  it('requires allowed origins written as origins', () => {
    expect(problems({ accounts: { default: {} } })).toMatch(/channels\.webchat\.accounts\.default\.allowed_origins = missing/);
    expect(problems({ accounts: { default: { allowed_origins: [] } } })).toMatch(/allowed_origins = \[\]: expected a count of at least 1/);
    expect(problems({ accounts: { default: { allowed_origins: ['https://shop.example/'] } } })).toMatch(/allowed_origins = \["https:\/\/shop\.example\/"\]: "https:\/\/shop\.example\/" is not written as browsers send an origin: write "https:\/\/shop\.example"/);
    expect(problems({ accounts: { default: { allowed_origins: ['shop.example'] } } })).toMatch(/"shop\.example" is not an origin: write one like "https:\/\/shop\.example"/);
    expect(problems({ accounts: { default: { allowed_origins: ['ftp://shop.example'] } } })).toMatch(/not an http or https origin/);
  });

  it('checks the other keys and refuses unknown ones where they are written', () => {
    const found = problems({ titel: 'x', accounts: { default: { allowed_origins: ['*'], rate: '10/hour', session_ttl: '5s', session_secret: 'short', colour: 'red' } } });
    expect(found).toMatch(/channels\.webchat\.titel: unknown key/);
    expect(found).toMatch(/channels\.webchat\.accounts\.default\.colour: unknown key/);
    expect(found).toMatch(/accounts\.default\.rate = "10\/hour": expected messages per second or minute/);
    expect(found).toMatch(/accounts\.default\.session_ttl = "5s": expected a duration of at least a minute/);
    expect(found).toMatch(/accounts\.default\.session_secret = "short": expected a length of at least 32/);
    expect(problems({ plugin: 'my-webchat', accounts: { default: { allowed_origins: ['*'] } } })).toMatch(/channels\.webchat\.plugin.*built into Pincer and has no plugin/);
  });
});

describe('the text streamed so far', () => {
  it("is kept per reply under way, restarted by a retry, and forgotten when the message ends", () => {
    const events = new LocalMessageEvents();
    const soFar = new StreamedSoFar(events);
    events.publish({ type: 'status', id: 'm1', status: 'processing', attempts: 1 });
    expect(soFar.get('m1')).toBeUndefined();
    events.publish({ type: 'token', id: 'm1', delta: 'Hel', attempt: 1 });
    events.publish({ type: 'token', id: 'm1', delta: 'lo', attempt: 1 });
    events.publish({ type: 'token', id: 'm2', delta: 'other', attempt: 1 });
    expect(soFar.get('m1')).toEqual({ attempt: 1, text: 'Hello' });
    events.publish({ type: 'status', id: 'm1', status: 'failed', attempts: 1 });
    expect(soFar.get('m1')).toBeUndefined();
    events.publish({ type: 'token', id: 'm1', delta: 'Bye', attempt: 2 });
    expect(soFar.get('m1')).toEqual({ attempt: 2, text: 'Bye' });
    events.publish({ type: 'status', id: 'm1', status: 'done', attempts: 2 });
    expect(soFar.get('m1')).toBeUndefined();
    expect(soFar.get('m2')).toEqual({ attempt: 1, text: 'other' });
    soFar.close();
    events.publish({ type: 'token', id: 'm3', delta: 'after close', attempt: 1 });
    expect(soFar.get('m3')).toBeUndefined();
  });
});
