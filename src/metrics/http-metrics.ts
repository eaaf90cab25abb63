import type { FastifyInstance } from 'fastify';
import type { PincerMetrics } from './metrics.js';

/**
 * Counts every answered request by its route pattern (never its URL, which would make a label
 * per message id). Recorded when the socket response ends, which also covers the streamed
 * responses (SSE, chat completions) that take over the reply and skip Fastify's onResponse.
 */
export function installHttpMetrics(app: FastifyInstance, metrics: PincerMetrics): void {
  app.addHook('onRequest', async (request, reply) => {
    const started = process.hrtime.bigint();
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    reply.raw.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequests.inc({ method, route, status: String(reply.raw.statusCode) });
      metrics.httpDuration.observe({ method, route }, seconds);
    });
  });
}
