import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Webchat, WebchatRateLimited, type WebchatAccount } from '../../channels/webchat/service.js';
import { StreamedSoFar } from '../../channels/webchat/so-far.js';
import { TERMINAL_STATES } from '../../events/types.js';
import type { MessageRecord } from '../../store/types.js';
import { PINCER_ROOT } from '../../version.js';
import type { ServerDeps } from '../deps.js';
import { messageWaiter } from '../message-wait.js';
import { AcceptedSchema, ErrorSchema, idPattern, object, string } from '../schemas.js';
import type { EventStreams } from '../sse.js';

/** Shipped in src/ like the dashboard's files (package.json "files"), found from the package root. */
export const WIDGET_FILE = path.join(PINCER_ROOT, 'src', 'server', 'webchat', 'widget.js');

const ACCOUNT = '^[a-z0-9][a-z0-9_-]{0,31}$';
const PREFIX = '/v1/webchat/:account';
const SESSIONS = `${PREFIX}/sessions`;

const AccountParams = object({ account: string({ pattern: ACCOUNT }) }, ['account']);
const SessionSchema = object(
  { token: string(), conversationId: string(), expiresAt: string({ format: 'date-time' }), title: string(), greeting: { anyOf: [string(), { type: 'null' }] } },
  ['token', 'conversationId', 'expiresAt', 'title', 'greeting'],
);
const VisitorMessageSchema = object(
  {
    id: string(),
    text: string(),
    status: string(),
    createdAt: string({ format: 'date-time' }),
    reply: { anyOf: [object({ text: string() }, ['text']), { type: 'null' }] },
  },
  ['id', 'text', 'status', 'createdAt', 'reply'],
);

type AccountRequest<Extra = object> = FastifyRequest<{ Params: { account: string } & Extra; Body: Record<string, string | undefined>; Querystring: { limit: number } }>;

/** What a visitor sees of one of its messages: its text, status and reply, never the pipeline's analysis or errors. */
function visitorView(record: MessageRecord) {
  return { id: record.id, text: record.text, status: record.state, createdAt: new Date(record.createdAt).toISOString(), reply: record.reply ? { text: record.reply.text } : null };
}

/**
 * The public web chat (src/channels/webchat/service.ts says why it is built in): the widget's
 * script, and the API its pages call across origins. Bearer tokens do not apply (auth.ts skips
 * /v1/webchat/): a visitor holds a session token scoped to its own conversation. CORS answers
 * only an account's allowed origins, except on the session route, whose refusal a refused page
 * may read so the widget can say why (it carries no token).
 */
export async function webchatRoutes(app: FastifyInstance, deps: ServerDeps, streams: EventStreams): Promise<void> {
  const webchat = new Webchat({
    channels: deps.config.channels,
    runtime: deps.channels,
    messages: deps.store.messages,
    dataDir: deps.config.data_dir,
    sharedStore: /^postgres(ql)?:/.test(deps.config.store ?? ''),
    log: deps.log.child({ component: 'webchat' }),
  });
  const { follow } = messageWaiter(deps);
  const soFar = new StreamedSoFar(deps.store.events);
  app.addHook('onClose', async () => soFar.close());

  const widget = readFileSync(WIDGET_FILE);
  const etag = `"${createHash('sha256').update(widget).digest('base64url').slice(0, 22)}"`;
  app.get('/widget.js', { schema: { hide: true } }, async (request, reply) => {
    void reply
      .header('cache-control', 'public, max-age=300')
      .header('etag', etag)
      .header('x-content-type-options', 'nosniff')
      // Other sites load it: from pages that isolate themselves (COEP), and with crossorigin="anonymous".
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('access-control-allow-origin', '*');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(widget);
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: AccountRequest, reply) => {
      const origin = request.headers.origin;
      void reply.header('vary', 'Origin');
      if (!origin) return;
      const sessions = request.routeOptions.url === SESSIONS || (request.method === 'OPTIONS' && request.url.split('?')[0]?.endsWith('/sessions'));
      if (!sessions && !webchat.allows(request.params.account, origin)) return;
      void reply
        .header('access-control-allow-origin', origin)
        .header('access-control-expose-headers', 'retry-after, idempotent-replayed, x-request-id');
    });

    /** The account of the route, its page's origin checked (an Origin-less request is no page's: the token decides). */
    const accountOf = (request: AccountRequest): WebchatAccount => {
      const account = webchat.account(request.params.account);
      if (request.headers.origin !== undefined) webchat.checkOrigin(account, request.headers.origin);
      return account;
    };

    scope.options(
      `${PREFIX}/*`,
      { schema: { hide: true } },
      async (_request, reply) =>
        reply
          .code(204)
          .header('access-control-allow-methods', 'GET, POST')
          .header('access-control-allow-headers', 'authorization, content-type, idempotency-key')
          .header('access-control-max-age', '600')
          .send(),
    );

    scope.post<{ Params: { account: string }; Body: { visitor?: string } | undefined }>(
      SESSIONS,
      {
        schema: {
          tags: ['webchat'],
          summary: "Open a visitor's session (from a page of an allowed origin)",
          description: "`visitor`: the token of an earlier session, still valid, keeps that visitor's conversation; anything else starts a new visitor.",
          params: AccountParams,
          body: object({ visitor: string({ maxLength: 4096 }) }, [], { additionalProperties: false }),
          response: { 200: SessionSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
        // A first visit may send no body at all: that is `{}`.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const account = webchat.account(request.params.account);
        void reply.header('cache-control', 'no-store');
        return webchat.openSession(account, request.headers.origin, request.body?.visitor);
      },
    );

    scope.post(
      `${PREFIX}/messages`,
      {
        schema: {
          tags: ['webchat'],
          summary: "A visitor's message (Authorization: Bearer <session token>); 202 once committed",
          params: AccountParams,
          headers: object({ 'idempotency-key': string({ minLength: 1, maxLength: 200, description: 'A retried POST with the same key is one message' }) }, []),
          body: object(
            {
              text: string({ minLength: 1, maxLength: deps.config.server.max_text_length, pattern: '\\S' }),
              timeZone: string({ maxLength: 64, description: "The visitor's IANA time zone (the widget sends the browser's); one Intl does not know is ignored" }),
            },
            ['text'],
            { additionalProperties: false },
          ),
          response: { 202: AcceptedSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema },
        },
      },
      async (request: AccountRequest, reply) => {
        const account = accountOf(request);
        const claims = webchat.authenticate(account, request.headers.authorization);
        try {
          const accepted = await webchat.send(account, claims, request.body.text as string, request.headers['idempotency-key'] as string | undefined, request.body.timeZone);
          if (accepted.duplicate) void reply.header('idempotent-replayed', 'true');
          return reply.code(202).send({ id: accepted.id, conversationId: accepted.conversationId, status: accepted.status });
        } catch (err) {
          if (err instanceof WebchatRateLimited) void reply.header('retry-after', String(err.retryAfterSeconds));
          throw err;
        }
      },
    );

    scope.get(
      `${PREFIX}/messages/:id/events`,
      {
        schema: {
          tags: ['webchat'],
          summary: "Server-sent events of one of the session's messages: status, token, reply, end",
          params: object({ account: string({ pattern: ACCOUNT }), id: string({ pattern: idPattern }) }, ['account', 'id']),
          produces: ['text/event-stream'],
          response: { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request: AccountRequest<{ id: string }>, reply: FastifyReply) => {
        const account = accountOf(request);
        const claims = webchat.authenticate(account, request.headers.authorization);
        const record = await webchat.ownMessage(account, claims, request.params.id);
        // The stream writes its own head: the CORS headers set so far go onto the raw response.
        for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
        const stream = streams.accept(request, reply);
        let replySent = false;
        const stop = follow(
          record.id,
          (event) => {
            if (event.type === 'token') stream.send('token', { delta: event.delta });
            else if (event.type === 'reply') {
              replySent = true;
              stream.send('reply', { text: event.reply.text });
            } else if (event.type === 'status') stream.send('status', { status: event.status, attempts: event.attempts });
            // A visitor sees the reply being written, not which tools the bot used.
          },
          (final) => {
            if (!replySent && final.reply) stream.send('reply', { text: final.reply.text });
            stream.send('status', { status: final.state, attempts: final.attempts });
            stream.end();
          },
        );
        stream.onClose(stop);
        stream.start();
        if (!TERMINAL_STATES.has(record.state)) {
          // Subscribed (above) before looking, with no wait between: later tokens come from follow().
          const early = soFar.get(record.id);
          stream.send('status', { status: early ? 'processing' : record.state, attempts: early?.attempt ?? record.attempts });
          if (early) stream.send('token', { delta: early.text });
        }
        return reply;
      },
    );

    scope.get(
      `${PREFIX}/conversation`,
      {
        schema: {
          tags: ['webchat'],
          summary: "The session's own messages and their replies (the newest `limit`), oldest first",
          params: AccountParams,
          querystring: object({ limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 } }, [], { additionalProperties: false }),
          response: { 200: object({ conversationId: string(), messages: { type: 'array', items: VisitorMessageSchema } }, ['conversationId', 'messages']), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request: AccountRequest, reply) => {
        const account = accountOf(request);
        const claims = webchat.authenticate(account, request.headers.authorization);
        const records = await webchat.history(account, claims, request.query.limit);
        void reply.header('cache-control', 'no-store');
        return { conversationId: webchat.conversationOf(account, claims.visitor), messages: records.map(visitorView) };
      },
    );
  });
}
