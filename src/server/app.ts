import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { installAuth } from './auth.js';
import { dashboardRoutes } from './dashboard/routes.js';
import type { ServerDeps } from './deps.js';
import { FRAMEWORK_ERROR_OPTIONS, installErrorHandling } from './errors.js';
import { installHttpMetrics } from '../metrics/http-metrics.js';
import { adminApprovalRoutes } from './routes/admin-approvals.js';
import { adminKbRoutes } from './routes/admin-kb.js';
import { adminChannelRoutes } from './routes/admin-channels.js';
import { adminModelRoutes } from './routes/admin-models.js';
import { channelWebhookRoutes } from './routes/channel-webhooks.js';
import { adminPluginRoutes } from './routes/admin-plugins.js';
import { adminQueueRoutes } from './routes/admin-queue.js';
import { conversationRoutes } from './routes/conversations.js';
import { healthRoutes } from './routes/health.js';
import { messageRoutes } from './routes/messages.js';
import { metricsRoutes } from './routes/metrics.js';
import { openAICompatRoutes } from './routes/openai-compat.js';
import { pluginHttpRoutes } from './routes/plugin-http.js';
import { webchatRoutes } from './routes/webchat.js';
import { ErrorSchema, MessageViewSchema } from './schemas.js';
import { EventStreams } from './sse.js';
import { validatorCompiler } from './validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false keeps a route out of the access log (health checks). */
    accessLog?: boolean;
  }
}

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Build (not start) the HTTP API. Routes are declared after swagger so the document sees them all. */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Fastify's two lines per request are replaced by one access-log line (onResponse below).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.body_limit,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ...FRAMEWORK_ERROR_OPTIONS,
  });
  app.setValidatorCompiler(validatorCompiler());
  installErrorHandling(app);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  if (config.log.access) {
    app.addHook('onResponse', async (request, reply) => {
      if (request.routeOptions.config.accessLog === false) return;
      request.log.info(
        { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
        'request',
      );
    });
  }
  // Before auth, whose refusals end the request in its own hook: a 401 is counted too.
  installHttpMetrics(app, deps.metrics);
  installAuth(app, { tokens: config.auth.tokens, adminTokens: config.auth.admin_tokens });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Pincer API',
        version: deps.version,
        description: 'Messages are committed to a durable queue before they are acknowledged, then answered by workers. Errors are `{error: {code, message}}`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: config.auth.tokens.length + config.auth.admin_tokens.length > 0 ? [{ bearer: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', logLevel: 'warn' });
  app.addSchema(ErrorSchema);
  app.addSchema(MessageViewSchema);

  const streams = new EventStreams();
  app.addHook('preClose', async () => streams.endAll());

  healthRoutes(app, deps);
  messageRoutes(app, deps, streams);
  conversationRoutes(app, deps);
  adminQueueRoutes(app, deps);
  openAICompatRoutes(app, deps);
  adminPluginRoutes(app, deps.plugins);
  adminModelRoutes(app, deps.models);
  adminChannelRoutes(app, deps);
  adminApprovalRoutes(app, deps);
  adminKbRoutes(app, deps);
  await channelWebhookRoutes(app, deps);
  await webchatRoutes(app, deps, streams);
  pluginHttpRoutes(app, deps.plugins);
  metricsRoutes(app, deps);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  dashboardRoutes(app, deps);
  return app;
}
