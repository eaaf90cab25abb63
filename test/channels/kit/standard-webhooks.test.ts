import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  signWebhook,
  toWhsec,
  verifyWebhook,
  webhookHeaders,
  webhookKey,
  WebhookSecretError,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookHeaders,
} from '../../../src/channels/kit/standard-webhooks.js';

// The example the Standard Webhooks reference libraries test against.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const SPEC_NOW = SPEC.timestamp * 1000;
const specHeaders = (signature = SPEC.signature): WebhookHeaders => ({
  'webhook-id': SPEC.id,
  'webhook-timestamp': String(SPEC.timestamp),
  'webhook-signature': signature,
});

describe('Standard Webhooks signatures', () => {
  it('reproduces the published example, and verifies it', () => {
    expect(signWebhook(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body)).toBe(SPEC.signature);
    expect(signWebhook(SPEC.secret, SPEC.id, SPEC.timestamp, Buffer.from(SPEC.body))).toBe(SPEC.signature);
    expect(verifyWebhook(SPEC.secret, specHeaders(), SPEC.body, { now: SPEC_NOW })).toEqual({ ok: true, id: SPEC.id, timestamp: SPEC.timestamp });
  });

  it('accepts any one matching signature of several (the sender rotating its key)', () => {
    const other = signWebhook('another secret, long enough', SPEC.id, SPEC.timestamp, SPEC.body);
    expect(verifyWebhook(SPEC.secret, specHeaders(`v1,bm9wZQ== ${other}  ${SPEC.signature}`), SPEC.body, { now: SPEC_NOW }).ok).toBe(true);
    expect(verifyWebhook(SPEC.secret, specHeaders(`v1,bm9wZQ== ${other}`), SPEC.body, { now: SPEC_NOW })).toMatchObject({ ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
    // Headers a sender makes with two secrets verify with either.
    const both = webhookHeaders(['old secret, sixteen+ chars', SPEC.secret], 'm1', 'x', SPEC_NOW);
    expect(both['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWebhook(SPEC.secret, both, 'x', { now: SPEC_NOW }).ok).toBe(true);
    expect(verifyWebhook('old secret, sixteen+ chars', both, 'x', { now: SPEC_NOW }).ok).toBe(true);
  });

  it('tries every secret it is given (the receiver rotating its own key)', () => {
    expect(verifyWebhook(['a new secret, long enough', SPEC.secret], specHeaders(), SPEC.body, { now: SPEC_NOW }).ok).toBe(true);
    expect(verifyWebhook(['a new secret, long enough'], specHeaders(), SPEC.body, { now: SPEC_NOW }).ok).toBe(false);
  });

  it('ignores signatures of other versions, and refuses a header with no v1', () => {
    expect(verifyWebhook(SPEC.secret, specHeaders(`v1a,${SPEC.signature.slice(3)}`), SPEC.body, { now: SPEC_NOW })).toEqual({
      ok: false,
      code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE',
      message: 'webhook-signature has no "v1," signature',
    });
  });

  it('compares the signature text, so base64 that decodes alike but is written differently fails', () => {
    // Node's base64 decoder skips a bad padding character: a byte comparison would pass this.
    const sloppy = SPEC.signature.replace(/=$/, '!');
    expect(Buffer.from(sloppy.slice(3), 'base64')).toEqual(Buffer.from(SPEC.signature.slice(3), 'base64'));
    expect(verifyWebhook(SPEC.secret, specHeaders(sloppy), SPEC.body, { now: SPEC_NOW })).toMatchObject({ code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
  });

  it('names each missing header as unsigned, and reads header names in any case', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const headers: Record<string, string> = { ...specHeaders() };
      delete headers[name];
      expect(verifyWebhook(SPEC.secret, headers, SPEC.body, { now: SPEC_NOW })).toEqual({ ok: false, code: 'CHANNEL_WEBHOOK_UNSIGNED', message: `missing header ${name}` });
      expect(verifyWebhook(SPEC.secret, { ...headers, [name]: '' }, SPEC.body, { now: SPEC_NOW })).toMatchObject({ code: 'CHANNEL_WEBHOOK_UNSIGNED' });
    }
    expect(verifyWebhook(SPEC.secret, {}, SPEC.body)).toEqual({
      ok: false,
      code: 'CHANNEL_WEBHOOK_UNSIGNED',
      message: 'missing headers webhook-id, webhook-timestamp, webhook-signature',
    });
    const shouted = { 'Webhook-Id': SPEC.id, 'WEBHOOK-TIMESTAMP': String(SPEC.timestamp), 'Webhook-Signature': [SPEC.signature] };
    expect(verifyWebhook(SPEC.secret, shouted, SPEC.body, { now: SPEC_NOW }).ok).toBe(true);
  });

  it('refuses a timestamp that is not Unix seconds as a bad signature', () => {
    for (const ts of ['1614265330.5', '-1614265330', '2021-02-25T15:02:10Z', '1e9']) {
      const headers = { ...specHeaders(), 'webhook-timestamp': ts };
      expect(verifyWebhook(SPEC.secret, headers, SPEC.body, { now: SPEC_NOW })).toMatchObject({ ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
    }
  });

  it('holds the timestamp to the tolerance in both directions, inclusive', () => {
    const at = (offsetSeconds: number, toleranceSeconds?: number) =>
      verifyWebhook(SPEC.secret, specHeaders(), SPEC.body, { now: SPEC_NOW + offsetSeconds * 1000, toleranceSeconds });
    expect(at(WEBHOOK_TOLERANCE_SECONDS).ok).toBe(true);
    expect(at(-WEBHOOK_TOLERANCE_SECONDS).ok).toBe(true);
    expect(at(WEBHOOK_TOLERANCE_SECONDS + 1)).toEqual({ ok: false, code: 'CHANNEL_WEBHOOK_STALE', message: 'webhook-timestamp is 301 s old; at most 300 s either way is accepted' });
    expect(at(-WEBHOOK_TOLERANCE_SECONDS - 1)).toEqual({
      ok: false,
      code: 'CHANNEL_WEBHOOK_STALE',
      message: 'webhook-timestamp is 301 s in the future; at most 300 s either way is accepted',
    });
    expect(at(61, 60).ok).toBe(false);
    expect(at(59, 60).ok).toBe(true);
  });

  it('says "bad signature", not "stale", for a forged call with an old timestamp', () => {
    const forged = specHeaders('v1,' + Buffer.alloc(32).toString('base64'));
    expect(verifyWebhook(SPEC.secret, forged, SPEC.body, { now: SPEC_NOW + 3_600_000 })).toMatchObject({ code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
  });

  describe('keys', () => {
    it('decodes "whsec_" base64 and takes any other secret as its UTF-8 bytes', () => {
      expect(Buffer.from(webhookKey(SPEC.secret))).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
      expect(Buffer.from(webhookKey('correct horse battery'))).toEqual(Buffer.from('correct horse battery', 'utf8'));
      // The base64 of the spec key without its prefix is a passphrase, not base64: documented.
      expect(Buffer.from(webhookKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'))).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'utf8'));
    });

    it('gives a passphrase a "whsec_" form that signs the same', () => {
      const passphrase = 'a shared passphrase of some length';
      const whsec = toWhsec(passphrase);
      expect(whsec).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(signWebhook(whsec, 'id', 1, 'body')).toBe(signWebhook(passphrase, 'id', 1, 'body'));
    });

    it('refuses secrets too short or malformed, by code', () => {
      for (const bad of ['short', '15 characters!!', 'whsec_', 'whsec_not base64!', 'whsec_c2hvcnQ=']) {
        expect(() => webhookKey(bad)).toThrow(WebhookSecretError);
      }
      expect(() => webhookKey(new Uint8Array(15))).toThrow(/at least 16 bytes/);
      expect(() => webhookKey('short')).toThrow(expect.objectContaining({ code: 'CHANNEL_ACCOUNT_INVALID' }));
      expect(() => webhookHeaders([], 'id', 'x')).toThrow(WebhookSecretError);
      expect(webhookKey('sixteen chars!!!')).toHaveLength(16);
    });
  });
});

// ---- properties ----------------------------------------------------------------------------

const key = fc.uint8Array({ minLength: 16, maxLength: 64 });
const id = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);
const body = fc.uint8Array({ maxLength: 2048 });
const timestamp = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 });
const withinTolerance = fc.integer({ min: -WEBHOOK_TOLERANCE_SECONDS * 1000, max: WEBHOOK_TOLERANCE_SECONDS * 1000 + 999 });

/** `s` with the character at `at` (mod length) XORed with `mask`: always a different string. */
function flipChar(s: string, at: number, mask: number): string {
  const i = at % s.length;
  return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ mask) + s.slice(i + 1);
}

describe('Standard Webhooks signature properties', () => {
  it('what is signed verifies, at any time within the tolerance', () => {
    fc.assert(
      fc.property(key, id, body, timestamp, withinTolerance, (k, i, b, ts, offset) => {
        const headers = webhookHeaders(k, i, b, ts * 1000);
        expect(verifyWebhook(k, headers, b, { now: ts * 1000 + offset })).toEqual({ ok: true, id: i, timestamp: ts });
      }),
    );
  });

  it('any one byte of the body or character of a header flipped: a bad signature', () => {
    const part = fc.constantFrom('body', 'webhook-id', 'webhook-timestamp', 'webhook-signature');
    fc.assert(
      fc.property(key, id, body, timestamp, part, fc.nat(), fc.integer({ min: 1, max: 127 }), (k, i, b, ts, which, at, mask) => {
        const headers: WebhookHeaders = webhookHeaders(k, i, b, ts * 1000);
        let sent = Buffer.from(b);
        if (which === 'body') {
          // An empty body has no byte to flip: one added is the same kind of change.
          if (sent.byteLength === 0) sent = Buffer.from([mask]);
          else sent[at % sent.byteLength] = sent[at % sent.byteLength]! ^ mask;
        } else {
          headers[which] = flipChar(headers[which], at, mask);
        }
        expect(verifyWebhook(k, headers, sent, { now: ts * 1000 })).toMatchObject({ ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
      }),
    );
  });

  it('a timestamp past the tolerance either way: stale, whatever the tolerance', () => {
    const tolerance = fc.integer({ min: 0, max: 86_400 });
    const beyond = fc.integer({ min: 1, max: 10_000_000 });
    fc.assert(
      fc.property(key, id, body, timestamp, tolerance, beyond, fc.boolean(), (k, i, b, ts, tol, extra, late) => {
        const headers = webhookHeaders(k, i, b, ts * 1000);
        const now = (ts + (late ? tol + extra : -(tol + extra))) * 1000;
        expect(verifyWebhook(k, headers, b, { now, toleranceSeconds: tol })).toMatchObject({ ok: false, code: 'CHANNEL_WEBHOOK_STALE' });
      }),
    );
  });
});
