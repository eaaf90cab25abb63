/**
 * Standard Webhooks signatures (standardwebhooks.com, the scheme Svix published): what the
 * generic webhook channel checks on a request it receives and puts on a call it makes.
 *
 *   webhook-id:        the message id; the same on every retry, so receivers dedupe by it
 *   webhook-timestamp: Unix seconds of this attempt
 *   webhook-signature: "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>",
 *                      several space-separated while a key is being rotated
 *
 * The key: a secret "whsec_<base64>" is the bytes that base64 decodes to, as in the reference
 * libraries. Any other string of at least 16 characters is taken as its own UTF-8 bytes, so an
 * operator may write a passphrase; a Standard Webhooks library on the other side must then be
 * given `toWhsec(passphrase)`, since those libraries base64-decode a secret without the prefix.
 *
 * node:crypto only, so the kit stays free of dependencies in a plugin thread.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a timestamp may be from now, either way, by default: the reference libraries' five minutes. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

const PREFIX = 'whsec_';
const MIN_KEY_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const UNIX_SECONDS = /^\d{1,15}$/;

export type WebhookRefusalCode = 'CHANNEL_WEBHOOK_UNSIGNED' | 'CHANNEL_WEBHOOK_BAD_SIGNATURE' | 'CHANNEL_WEBHOOK_STALE';

export type WebhookCheck =
  | { ok: true; id: string; /** Unix seconds. */ timestamp: number }
  | { ok: false; code: WebhookRefusalCode; message: string };

/** A secret as configured ("whsec_..." or a passphrase), or key bytes already decoded. */
export type WebhookSecret = string | Uint8Array;

export type WebhookHeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

// A type, not an interface, so it passes where a header record is asked for.
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** A secret that can never verify anything: the account's settings are wrong, not the request. */
export class WebhookSecretError extends Error {
  readonly code = 'CHANNEL_ACCOUNT_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSecretError';
  }
}

/** The HMAC key a secret stands for; throws WebhookSecretError when it is not usable. */
export function webhookKey(secret: WebhookSecret): Uint8Array {
  if (typeof secret !== 'string') {
    if (secret.byteLength < MIN_KEY_BYTES) throw new WebhookSecretError(`a webhook key must be at least ${MIN_KEY_BYTES} bytes`);
    return secret;
  }
  if (secret.startsWith(PREFIX)) {
    const encoded = secret.slice(PREFIX.length);
    if (!BASE64.test(encoded)) throw new WebhookSecretError('a "whsec_" secret must be followed by base64');
    const key = Buffer.from(encoded, 'base64');
    if (key.byteLength < MIN_KEY_BYTES) throw new WebhookSecretError(`a "whsec_" secret must decode to at least ${MIN_KEY_BYTES} bytes (it has ${key.byteLength})`);
    return key;
  }
  if ([...secret].length < MIN_KEY_BYTES) {
    throw new WebhookSecretError(`a webhook secret must be "whsec_<base64>" or a passphrase of at least ${MIN_KEY_BYTES} characters`);
  }
  return Buffer.from(secret, 'utf8');
}

/** The "whsec_" form of a passphrase, for a Standard Webhooks library on the other side. */
export function toWhsec(passphrase: string): string {
  return PREFIX + Buffer.from(webhookKey(passphrase)).toString('base64');
}

function digest(key: Uint8Array, id: string, timestamp: string, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest('base64');
}

/** One "v1,<base64>" signature of a message. */
export function signWebhook(secret: WebhookSecret, id: string, timestamp: number, body: string | Uint8Array): string {
  return `v1,${digest(webhookKey(secret), id, String(timestamp), body)}`;
}

/**
 * The three headers of a call, signed with every secret given (the new one and the old one
 * while a receiver moves between them). `now` is in milliseconds.
 */
export function webhookHeaders(secrets: WebhookSecret | readonly WebhookSecret[], id: string, body: string | Uint8Array, now = Date.now()): WebhookHeaders {
  const timestamp = Math.floor(now / 1000);
  const list = Array.isArray(secrets) ? secrets : [secrets as WebhookSecret];
  if (list.length === 0) throw new WebhookSecretError('no webhook secret to sign with');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': list.map((s) => signWebhook(s, id, timestamp, body)).join(' '),
  };
}

/** Node lower-cases header names; a hand-built bag may not have. */
function header(headers: WebhookHeaderBag, name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(' ');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Only the length leaks, and every valid signature has the same one.
  return x.byteLength === y.byteLength && timingSafeEqual(x, y);
}

export interface VerifyWebhookOptions {
  /** Default WEBHOOK_TOLERANCE_SECONDS. */
  toleranceSeconds?: number;
  /** Milliseconds; default Date.now(). */
  now?: number;
}

/**
 * Check a received call. The signature is checked before the timestamp, so "stale" is only ever
 * said of a call that is authentic but old (or from a sender whose clock is off): a forged or
 * altered call is a bad signature whatever its timestamp. Several secrets are tried, for a
 * receiver rotating its own key; any one signature of the header matching any one key passes.
 */
export function verifyWebhook(
  secrets: WebhookSecret | readonly WebhookSecret[],
  headers: WebhookHeaderBag,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): WebhookCheck {
  const id = header(headers, 'webhook-id') ?? '';
  const timestamp = header(headers, 'webhook-timestamp') ?? '';
  const signature = header(headers, 'webhook-signature') ?? '';
  const missing = Object.entries({ 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature })
    .filter(([, value]) => value === '')
    .map(([name]) => name);
  if (missing.length > 0) {
    return { ok: false, code: 'CHANNEL_WEBHOOK_UNSIGNED', message: `missing header${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` };
  }
  if (!UNIX_SECONDS.test(timestamp)) {
    return { ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE', message: 'webhook-timestamp is not Unix seconds' };
  }
  const offered = signature
    .split(/\s+/)
    .filter((s) => s.startsWith('v1,'))
    .map((s) => s.slice(3));
  if (offered.length === 0) {
    return { ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE', message: 'webhook-signature has no "v1," signature' };
  }
  const keys = (Array.isArray(secrets) ? secrets : [secrets as WebhookSecret]).map(webhookKey);
  const matched = keys.some((key) => {
    const expected = digest(key, id, timestamp, body);
    return offered.some((s) => sameText(s, expected));
  });
  if (!matched) return { ok: false, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE', message: 'no webhook-signature matches the body and the secret' };

  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const seconds = Number(timestamp);
  const skew = Math.floor((options.now ?? Date.now()) / 1000) - seconds;
  if (Math.abs(skew) > tolerance) {
    const when = skew > 0 ? `${skew} s old` : `${-skew} s in the future`;
    return { ok: false, code: 'CHANNEL_WEBHOOK_STALE', message: `webhook-timestamp is ${when}; at most ${tolerance} s either way is accepted` };
  }
  return { ok: true, id, timestamp: seconds };
}
