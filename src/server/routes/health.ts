import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ServerDeps } from '../deps.js';

export function healthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  // S2.5: liveness for load balancers, probed every few seconds, so never logged.
  app.get(
    '/health',
    {
      logLevel: 'silent',
      config: { accessLog: false },
      schema: { tags: ['operations'], summary: 'Liveness: 200 "OK" while the process serves HTTP', response: { 200: Type.String() } },
    },
    async (_request, reply) => reply.type('text/plain; charset=utf-8').send('OK'),
  );

  app.get(
    '/ready',
    {
      config: { accessLog: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: 200 when storage, queue and workers are ready, else 503 with the reason',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Type.String()) }),
          503: Type.Object({ status: Type.Literal('not_ready'), reason: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
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
