import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PincerError } from '../errors.js';
import { sendError } from './errors.js';

export interface AuthSettings {
  tokens: readonly string[];
  adminTokens: readonly string[];
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * PRODUCT.md: with no tokens the API is open, which is only allowed on loopback. Refuse to
 * start otherwise, before a socket is opened.
 */
export function assertSafeBind(host: string, auth: AuthSettings): void {
  if (!isLoopback(host) && auth.tokens.length === 0 && auth.adminTokens.length === 0) {
    throw new PincerError(
      'CONFIG_INSECURE_BIND',
      `refusing to listen on ${host} without API tokens: anyone who can reach it could use the bot. ` +
        'Set PINCER_API_TOKENS (and PINCER_ADMIN_TOKENS for /v1/admin), or bind to 127.0.0.1 with PINCER_HOST.',
    );
  }
}

function matches(candidate: string, tokens: readonly string[]): boolean {
  const given = Buffer.from(candidate);
  let found = false;
  for (const token of tokens) {
    const expected = Buffer.from(token);
    // Compare every token in constant time; do not stop early.
    if (expected.length === given.length && timingSafeEqual(expected, given)) found = true;
  }
  return found;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Bearer tokens on /v1 and /metrics; admin tokens on /v1/admin. Health, readiness, docs and the dashboard's shell stay public. */
export function installAuth(app: FastifyInstance, auth: AuthSettings): void {
  const open = auth.tokens.length === 0 && auth.adminTokens.length === 0;
  if (open) return;
  app.addHook('onRequest', async (request, reply) => {
    // Judge by the route the router matched, never by the raw URL: the router decodes
    // percent-escapes and absolute-form targets, so "/%761/admin" or "http://x/v1/..." must not
    // slip past a prefix check. Unmatched requests get the 404 handler and reveal nothing.
    const route = request.routeOptions.url;
    // /metrics is an API route too: it tells a stranger how busy the bot is and what it runs.
    if (route === undefined || (!route.startsWith('/v1/') && route !== '/metrics')) return;
    // Chat platforms cannot send our bearer tokens: each channel checks its own secret or
    // signature, and the web chat its visitors' session tokens.
    if (route.startsWith('/v1/channels/') || route.startsWith('/v1/webchat/')) return;
    const admin = route.startsWith('/v1/admin/');
    const token = bearer(request);
    if (!token) {
      return sendError(reply.header('www-authenticate', 'Bearer'), 'UNAUTHORIZED', 'missing bearer token: send "Authorization: Bearer <token>"');
    }
    if (admin) {
      if (matches(token, auth.adminTokens)) return;
      if (matches(token, auth.tokens)) {
        return sendError(reply, 'FORBIDDEN', auth.adminTokens.length === 0 ? 'admin routes need an admin token and none is configured (PINCER_ADMIN_TOKENS)' : 'this token may not use admin routes');
      }
    } else if (matches(token, auth.tokens) || matches(token, auth.adminTokens)) {
      return;
    }
    return sendError(reply.header('www-authenticate', 'Bearer error="invalid_token"'), 'UNAUTHORIZED', 'the bearer token is not valid');
  });
}
