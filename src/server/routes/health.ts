import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../../errors.js';
import type { ServerDeps } from '../deps.js';
import { object, string } from '../schemas.js';

const checks = { type: 'object', additionalProperties: { type: 'string' } };

/** A store that does not answer within this is as good as down, to a load balancer. */
const STORE_PING_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function healthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  // S2.5: what load balancers probe every few seconds, so never logged. 200 "OK" while this
  // node can take messages; 503 while it shuts down or cannot reach its store, so the
  // balancer stops sending it traffic that it would only refuse.
  app.get(
    '/health',
    {
      logLevel: 'silent',
      config: { accessLog: false },
      schema: {
        tags: ['operations'],
        summary: 'Health for load balancers: 200 "OK" while the node can take messages; 503 while shutting down or when the store is unreachable',
        response: { 200: string(), 503: string() },
      },
    },
    async (_request, reply) => {
      void reply.type('text/plain; charset=utf-8');
      if (deps.shutdownSignal.aborted) return reply.code(503).send('UNAVAILABLE: shutting down');
      try {
        await withTimeout(deps.store.admin.ping(), STORE_PING_TIMEOUT_MS);
      } catch (err) {
        return reply.code(503).send(`UNAVAILABLE: store: ${errorMessage(err)}`);
      }
      return reply.send('OK');
    },
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
