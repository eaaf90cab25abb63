import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import type { ServerDeps } from '../deps.js';
import { messageView } from '../message-view.js';
import { ErrorSchema, MessageViewSchema, PageQuery, idPattern, object, string, type Page } from '../schemas.js';

const RetryBody = object(
  {
    ids: { type: 'array', items: string({ pattern: idPattern }), minItems: 1, maxItems: 1000, uniqueItems: true },
    all: { type: 'boolean' },
  },
  [],
  { additionalProperties: false },
);
interface RetryBody {
  ids?: string[];
  all?: boolean;
}
const anyObject = { type: 'object', additionalProperties: true };

const security = [{ bearer: [] }];

export function adminQueueRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const queue = deps.store.admin;

  app.get(
    '/v1/admin/queue/stats',
    {
      schema: {
        tags: ['admin'],
        summary: 'Queue depth by state and priority, the current limit (S5.2 growth), counters, workers',
        security,
        response: { 200: object({ queue: anyObject, workers: anyObject }, ['queue', 'workers']) },
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
        response: { 200: object({ messages: { type: 'array', items: MessageViewSchema } }, ['messages']) },
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
        response: { 200: object({ retried: { type: 'integer' } }, ['retried']), 400: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: RetryBody }>) => {
      const { ids, all } = request.body;
      if ((ids === undefined) === (all !== true)) {
        throw new PincerError('VALIDATION_ERROR', 'send either "ids" (a list of message ids) or "all": true');
      }
      return { retried: await queue.retryDead(all ? 'all' : (ids as string[])) };
    },
  );
}
