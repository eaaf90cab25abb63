import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A web chat session token: `v1.<payload>.<signature>`, both base64url, the signature an
 * HMAC-SHA256 of `v1.<payload>` under the account's session secret. It is the visitor's whole
 * identity: whoever holds it reads and writes that visitor's conversation and nothing else, so
 * the server keeps no session table and any node holding the secret verifies it.
 */
export interface SessionClaims {
  account: string;
  visitor: string;
  /** Expiry, Unix seconds. */
  exp: number;
}

export type SessionCheck = { ok: true; claims: SessionClaims } | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

const VERSION = 'v1';
const B64URL = /^[A-Za-z0-9_-]+$/;
const VISITOR = /^v_[A-Za-z0-9_-]{22}$/;
const SIGNATURE_BYTES = 32;

/** A new visitor's id: 128 random bits, so ids can be neither guessed nor enumerated. */
export function newVisitorId(): string {
  return `v_${randomBytes(16).toString('base64url')}`;
}

function sign(secret: string, signed: string): Buffer {
  return createHmac('sha256', secret).update(signed).digest();
}

export function signSession(secret: string, claims: SessionClaims): string {
  const payload = Buffer.from(JSON.stringify({ account: claims.account, visitor: claims.visitor, exp: claims.exp })).toString('base64url');
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${sign(secret, signed).toString('base64url')}`;
}

function claimsOf(value: unknown): SessionClaims | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { account, visitor, exp } = value as Record<string, unknown>;
  if (typeof account !== 'string' || typeof visitor !== 'string' || !VISITOR.test(visitor) || typeof exp !== 'number' || !Number.isInteger(exp)) return undefined;
  return { account, visitor, exp };
}

/** The signature is checked (in constant time) before the payload is even parsed. */
export function verifySession(secret: string, token: string, nowMs: number): SessionCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [version, payload, signature] = parts as [string, string, string];
  if (version !== VERSION || !B64URL.test(payload) || !B64URL.test(signature)) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(signature, 'base64url');
  // Base64url has spare bits in its last character: only the one spelling of the bytes is taken.
  if (given.length !== SIGNATURE_BYTES || given.toString('base64url') !== signature) return { ok: false, reason: 'malformed' };
  if (!timingSafeEqual(given, sign(secret, `${version}.${payload}`))) return { ok: false, reason: 'signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const claims = claimsOf(parsed);
  if (!claims) return { ok: false, reason: 'malformed' };
  if (nowMs >= claims.exp * 1000) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}
