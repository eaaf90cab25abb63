import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { accountViews } from './admin-channels.js';

/** Prometheus' scrape target, and the live figures the built-in dashboard draws. */
export function metricsRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus text format (docs/operations.md lists the metrics)', security: [{ bearer: [] }] }, config: { accessLog: false } },
    async (_request, reply) => {
      const { contentType, body } = await deps.metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );

  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['operations'],
        summary: 'Live figures for the dashboard: now, and one sample per second for the last 5 minutes',
        security: [{ bearer: [] }],
        response: { 200: { type: 'object', additionalProperties: true } },
      },
      config: { accessLog: false },
    },
    // The chat accounts' table of the dashboard comes along, so it needs no admin token.
    async () => ({ ...(await deps.metrics.live()), channels: await accountViews(deps) }),
  );
}
