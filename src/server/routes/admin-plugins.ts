import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PluginManager } from '../../plugins/manager.js';
import { ErrorSchema, object, string } from '../schemas.js';

const security = [{ bearer: [] }];
const anyObject = { type: 'object', additionalProperties: true };
const PluginView = { type: 'object', additionalProperties: true, required: ['name', 'state'], properties: { name: string(), state: string() } };
const NameParams = object({ name: string({ pattern: '^[a-z][a-z0-9-]{0,63}$' }) }, ['name']);
interface NameParams {
  name: string;
}
const InstallBody = object(
  {
    source: string({ minLength: 1, maxLength: 1024, description: 'A folder path (relative to plugins.root) or an npm spec: name, name@range, tarball path, git URL' }),
    enable: { type: 'boolean', default: true, description: 'Enable what the package provides once installed' },
  },
  ['source'],
  { additionalProperties: false },
);
interface InstallBody {
  source: string;
  enable: boolean;
}
const errors = { 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/** Plugins while Pincer runs: list, install, enable, disable, reload (S1.2). Admin scope. */
export function adminPluginRoutes(app: FastifyInstance, plugins: PluginManager): void {
  app.get(
    '/v1/admin/plugins',
    { schema: { tags: ['admin'], summary: 'Every plugin found, with its state and why', security, response: { 200: object({ plugins: { type: 'array', items: PluginView } }, ['plugins']) } } },
    async () => ({ plugins: plugins.list() }),
  );

  app.get(
    '/v1/admin/plugins/:name',
    { schema: { tags: ['admin'], summary: 'One plugin: state, registrations, failures', security, params: NameParams, response: { 200: PluginView, ...errors } } },
    async (request: FastifyRequest<{ Params: NameParams }>) => plugins.get(request.params.name),
  );

  app.post(
    '/v1/admin/plugins/rescan',
    { schema: { tags: ['admin'], summary: 'Read the plugin manifests again (listing plugins reads a cache), then list every plugin', security, response: { 200: object({ plugins: { type: 'array', items: PluginView } }, ['plugins']) } } },
    async () => ({ plugins: plugins.refresh() }),
  );

  for (const action of ['enable', 'disable', 'reload'] as const) {
    app.post(
      `/v1/admin/plugins/:name/${action}`,
      {
        schema: {
          tags: ['admin'],
          summary: { enable: 'Start a plugin now and on later starts', disable: 'Stop a plugin now and on later starts; in-flight messages finish', reload: 'Load the plugin\'s current code and config; in-flight messages finish on the old generation' }[action],
          security,
          params: NameParams,
          response: { 200: PluginView, ...errors },
        },
      },
      async (request: FastifyRequest<{ Params: NameParams }>) => plugins[action](request.params.name),
    );
  }

  app.post(
    '/v1/admin/plugins/install',
    {
      schema: {
        tags: ['admin'],
        summary: 'Install a plugin from a folder or an npm spec, then enable it',
        security,
        body: InstallBody,
        response: { 200: object({ installed: anyObject, plugins: { type: 'array', items: PluginView } }, ['installed', 'plugins']), ...errors },
      },
    },
    async (request: FastifyRequest<{ Body: InstallBody }>) => plugins.install(request.body.source, { enable: request.body.enable }),
  );
}
