import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelLayer } from '../../models/setup.js';
import { ErrorSchema, object, string } from '../schemas.js';

const security = [{ bearer: [] }];
const anyObject = { type: 'object', additionalProperties: true };
interface TestBody {
  deployment?: string;
}

/** The model deployments: configuration, health and usage; and a live check of each. Admin scope. */
export function adminModelRoutes(app: FastifyInstance, models: ModelLayer): void {
  app.get(
    '/v1/admin/models',
    { schema: { tags: ['admin'], summary: 'Model deployments with their calls, failures, cooldown, tokens and cost', security, response: { 200: object({ deployments: { type: 'array', items: anyObject }, embeddings: { type: 'array', items: anyObject } }, ['deployments', 'embeddings']) } } },
    async () => {
      const stats = new Map(models.router.stats().map((s) => [s.id, s]));
      const embeddingStats = new Map(models.embeddings.stats().map((s) => [s.id, s]));
      return {
        deployments: models.deployments.map((d) => ({ ...d, ...stats.get(d.id) })),
        embeddings: models.embeddingDeployments.map((d) => ({ ...d, ...embeddingStats.get(d.id) })),
      };
    },
  );

  app.post(
    '/v1/admin/models/test',
    {
      schema: {
        tags: ['admin'],
        summary: 'Ask each deployment (or one) for a tiny reply, bypassing the router',
        security,
        body: { anyOf: [object({ deployment: string({ minLength: 1 }) }, [], { additionalProperties: false }), { type: 'null' }] },
        response: { 200: object({ results: { type: 'array', items: anyObject } }, ['results']), 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: TestBody | null }>) => ({ results: await models.check(request.body?.deployment) }),
  );
}
