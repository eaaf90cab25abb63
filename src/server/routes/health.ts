import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { object, string } from '../schemas.js';

const checks = { type: 'object', additionalProperties: { type: 'string' } };

export function healthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  // S2.5: liveness for load balancers, probed every few seconds, so never logged.
  app.get(
    '/health',
    {
      logLevel: 'silent',
      config: { accessLog: false },
      schema: { tags: ['operations'], summary: 'Liveness: 200 "OK" while the process serves HTTP', response: { 200: string() } },
    },
    async (_request, reply) => reply.type('text/plain; charset=utf-8').send('OK'),
  );

  app.get(
    '/ready',
    {
      config: { accessLog: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: 200 when storage, workers, plugins and model warm-up are ready, else 503 with the reason',
        response: {
          200: object({ status: { const: 'ready' }, checks }, ['status', 'checks']),
          503: object({ status: { const: 'not_ready' }, reason: string(), checks }, ['status', 'reason', 'checks']),
        },
      },
    },
    async (_request, reply) => {
      const report = await deps.readiness();
      if (report.ready) return reply.code(200).send({ status: 'ready', checks: report.checks });
      return reply.code(503).send({ status: 'not_ready', reason: report.reason ?? 'not ready', checks: report.checks });
    },
  );
}
