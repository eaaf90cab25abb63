import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { PincerError } from '../../errors.js';
import type { ServerDeps } from '../deps.js';
import { messageView } from '../message-view.js';
import { ErrorSchema, MessageViewSchema, PageQuery, idPattern, type Page } from '../schemas.js';

const RetryBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.String({ pattern: idPattern }), { minItems: 1, maxItems: 1000, uniqueItems: true })),
    all: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const security = [{ bearer: [] }];

export function adminQueueRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { queue } = deps;

  app.get(
    '/v1/admin/queue/stats',
    {
      schema: {
        tags: ['admin'],
        summary: 'Queue depth by state and priority, the current limit (S5.2 growth), counters, workers',
        security,
        response: { 200: Type.Object({ queue: Type.Record(Type.String(), Type.Unknown()), workers: Type.Record(Type.String(), Type.Unknown()) }) },
      },
    },
    async () => ({ queue: await queue.stats(), workers: deps.workerStats() }),
  );

  app.get(
    '/v1/admin/queue/dead',
    {
      schema: {
        tags: ['admin'],
        summary: 'Dead letters, most recent first',
        security,
        querystring: PageQuery,
        response: { 200: Type.Object({ messages: Type.Array(MessageViewSchema) }) },
      },
    },
    async (request: FastifyRequest<{ Querystring: Page }>) => ({ messages: (await queue.listDead(request.query)).map(messageView) }),
  );

  app.post(
    '/v1/admin/queue/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Put dead letters back in the queue: `{"ids": [...]}` or `{"all": true}`',
        security,
        body: RetryBody,
        response: { 200: Type.Object({ retried: Type.Integer() }), 400: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: Static<typeof RetryBody> }>) => {
      const { ids, all } = request.body;
      if ((ids === undefined) === (all !== true)) {
        throw new PincerError('VALIDATION_ERROR', 'send either "ids" (a list of message ids) or "all": true', 400);
      }
      return { retried: await queue.retryDead(all ? 'all' : (ids as string[])) };
    },
  );
}
