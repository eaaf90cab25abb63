import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject } from '../../json.js';
import type { ServerDeps } from '../deps.js';
import { ErrorSchema, object, string } from '../schemas.js';

const NAME = '^[a-z][a-z0-9_-]{0,31}$';
const ACCOUNT = '^[a-z0-9][a-z0-9_-]{0,31}$';

function flatQuery(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (query && typeof query === 'object') for (const [key, value] of Object.entries(query)) out[key] = Array.isArray(value) ? String(value[0] ?? '') : String(value ?? '');
  return out;
}

function flatHeaders(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * Chat platforms' webhooks. The routes belong to the host, so a reload of a channel's plugin
 * never leaves one unserved; the body is kept as received (signatures cover its bytes) and the
 * plugin verifies and parses it. The platform hears 2xx only after the commit, and a 5xx when
 * the store is down, so it sends the update again. Bearer tokens do not apply: each channel
 * authenticates by its own secret or signature.
 */
export async function channelWebhookRoutes(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    const handle = async (channel: string, account: string, request: FastifyRequest, reply: FastifyReply) => {
      const body = typeof request.body === 'string' ? request.body : '';
      const method = request.method === 'GET' ? 'GET' : 'POST';
      const answer = await deps.channels.webhook(channel, account, { method, query: flatQuery(request.query), headers: flatHeaders(request), body });
      // The signed webhook channel's callers learn the message ids; a platform's body (a
      // Telegram method run in the webhook answer, say) goes back untouched.
      const payload = channel === 'webhook' && answer.results && isJsonObject(answer.body) ? { ...answer.body, events: answer.results as never } : answer.body;
      // A verification handshake answers with a bare string (WhatsApp's hub.challenge).
      if (typeof payload === 'string') return reply.code(answer.status).type('text/plain; charset=utf-8').send(payload);
      return reply.code(answer.status).send(payload);
    };
    const responses = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema };

    scope.post(
      '/v1/channels/:channel/:account/webhook',
      {
        schema: {
          tags: ['channels'],
          summary: "A chat platform's webhook (Telegram's setWebhook URL); answered 2xx only after the update is committed",
          params: object({ channel: string({ pattern: NAME }), account: string({ pattern: ACCOUNT }) }, ['channel', 'account']),
          response: responses,
        },
      },
      (request: FastifyRequest<{ Params: { channel: string; account: string } }>, reply) => handle(request.params.channel, request.params.account, request, reply),
    );

    scope.get(
      '/v1/channels/:channel/:account/webhook',
      {
        schema: {
          tags: ['channels'],
          summary: "A chat platform's verification handshake on its webhook URL (WhatsApp's hub.mode=subscribe&hub.challenge)",
          params: object({ channel: string({ pattern: NAME }), account: string({ pattern: ACCOUNT }) }, ['channel', 'account']),
          response: { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema },
        },
      },
      (request: FastifyRequest<{ Params: { channel: string; account: string } }>, reply) => handle(request.params.channel, request.params.account, request, reply),
    );

    scope.post(
      '/v1/channels/webhook/:account/messages',
      {
        schema: {
          tags: ['channels'],
          summary: 'The signed webhook channel: a message from any system that can POST (Standard Webhooks signature); 202 after the commit',
          params: object({ account: string({ pattern: ACCOUNT }) }, ['account']),
          response: responses,
        },
      },
      (request: FastifyRequest<{ Params: { account: string } }>, reply) => handle('webhook', request.params.account, request, reply),
    );
  });
}
