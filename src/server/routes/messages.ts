import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, PincerError } from '../../errors.js';
import { TERMINAL_STATES } from '../../events/types.js';
import type { JsonObject, MessageRecord } from '../../store/types.js';
import type { ServerDeps } from '../deps.js';
import { messageWaiter } from '../message-wait.js';
import { messageView } from '../message-view.js';
import { AcceptedSchema, ErrorSchema, IdParams, MessageViewSchema, object, sendMessageBody, string, type SendMessageBody } from '../schemas.js';
import type { EventStreams } from '../sse.js';

export function messageRoutes(app: FastifyInstance, deps: ServerDeps, streams: EventStreams): void {
  const { config } = deps;
  const { work } = deps.store;
  const maxWaitSeconds = Math.floor(config.server.max_wait / 1000);

  const { durableView, follow, waitForFinal } = messageWaiter(deps);

  app.post(
    '/v1/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Send a message to the bot',
        description:
          'The message is committed to the durable queue before the answer. 202 with its id; with `?wait=SECONDS`, 200 with the reply if it is ready in time. 429 with Retry-After when the queue is full.',
        body: sendMessageBody(config.server.max_text_length),
        querystring: object(
          { wait: { type: 'number', minimum: 0, maximum: maxWaitSeconds, description: `Seconds to wait for the reply (at most ${maxWaitSeconds})` } },
          [],
          { additionalProperties: false },
        ),
        headers: object(
          { 'idempotency-key': string({ minLength: 1, maxLength: 255, description: 'The same key always maps to the same message, processed once' }) },
          [],
        ),
        response: { 200: MessageViewSchema, 202: AcceptedSchema, 400: ErrorSchema, 429: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: SendMessageBody; Querystring: { wait?: number } }>, reply: FastifyReply) => {
      const body = request.body;
      const result = await work.enqueue({
        text: body.text,
        conversationId: body.conversationId ?? randomUUID(),
        sender: body.sender,
        channel: body.channel ?? 'api',
        priority: body.priority ?? 'normal',
        metadata: body.metadata as JsonObject | undefined,
        idempotencyKey: request.headers['idempotency-key'] as string | undefined,
      });
      void reply.header('location', `/v1/messages/${result.id}`);
      if (result.duplicate) void reply.header('idempotent-replayed', 'true');

      const wait = request.query.wait ?? 0;
      if (wait > 0 && !deps.shutdownSignal.aborted) {
        const record = await waitForFinal(result.id, wait * 1000, request);
        if (record) return reply.code(200).send(messageView(record));
      }
      return reply.code(202).send({ id: result.id, conversationId: result.conversationId, status: result.status });
    },
  );

  app.get(
    '/v1/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'A message: status, attempts, analysis, reply, last error',
        params: IdParams,
        response: { 200: MessageViewSchema, 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const record = await durableView(request.params.id);
      if (!record) throw new NotFoundError('MESSAGE_NOT_FOUND', 'message', request.params.id);
      return messageView(record);
    },
  );

  app.get(
    '/v1/messages/:id/events',
    {
      schema: {
        tags: ['messages'],
        summary: 'Server-sent events for a message',
        description:
          'Events: `status` ({status, attempts, error?}), `token` ({delta}) while a reply streams, `reply` (the stored reply), then `end`. After a `status` of `failed`, the retry streams its tokens from the start of its reply. The stream starts with the current status and closes when the message is done or dead.',
        params: IdParams,
        produces: ['text/event-stream'],
        response: { 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const id = request.params.id;
      const stream = streams.accept(request, reply);
      let replySent = false;
      const statusOf = (r: MessageRecord) => ({ status: r.state, attempts: r.attempts, ...(r.lastError ? { error: r.lastError } : {}) });
      // The final status may come from another node, without the reply: the stored record has both.
      const stop = follow(
        id,
        (event) => {
          if (event.type === 'token') stream.send('token', { delta: event.delta });
          else if (event.type === 'step') stream.send('step', { index: event.index });
          else if (event.type === 'tool') stream.send('tool', { tool: event.tool, ok: event.ok, ms: event.ms, ...(event.error !== undefined ? { error: event.error } : {}) });
          else if (event.type === 'reply') {
            replySent = true;
            stream.send('reply', event.reply);
          } else stream.send('status', { status: event.status, attempts: event.attempts, ...(event.error ? { error: event.error } : {}) });
        },
        (final) => {
          if (!replySent && final.reply) stream.send('reply', final.reply);
          stream.send('status', statusOf(final));
          stream.end();
        },
      );
      stream.onClose(stop);
      let record;
      try {
        record = await durableView(id);
      } catch (err) {
        request.log.error({ err }, 'reading a message for an event stream failed');
        stream.fail(new PincerError('STORE_UNAVAILABLE', 'the message store could not be read; try again shortly'));
        return reply;
      }
      if (!record) {
        stream.fail(new NotFoundError('MESSAGE_NOT_FOUND', 'message', id));
        return reply;
      }
      stream.start();
      // A final record is sent by follow(), which looked too; the stream ends once, whoever is first.
      if (!TERMINAL_STATES.has(record.state)) stream.send('status', statusOf(record));
      return reply;
    },
  );
}
