import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import type { PluginManager } from '../../plugins/manager.js';
import type { HttpMethod, JsonValue, RouteResponse } from '../../plugins/sdk.js';

/** Headers a plugin never sees: credentials stay with Pincer. */
const HIDDEN_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * Plugins' own HTTP routes, under /v1/plugins/<plugin>/... with the API's auth. Fastify's
 * routes are fixed once it listens, so one wildcard route dispatches to each plugin's table.
 */
export function pluginHttpRoutes(app: FastifyInstance, plugins: PluginManager): void {
  const handler = async (request: FastifyRequest<{ Params: { plugin: string; '*': string } }>, reply: FastifyReply) => {
    const { plugin } = request.params;
    const path = '/' + (request.params['*'] ?? '');
    const table = plugins.routes(plugin);
    if (!table) throw new PincerError('PLUGIN_NOT_RUNNING', `plugin "${plugin}" is not running (see GET /v1/admin/plugins)`);
    const match = table.find(request.method, path);
    if (!match) {
      const allowed = table.allowed(path);
      if (allowed.length > 0) {
        void reply.header('allow', allowed.join(', '));
        throw new PincerError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${request.url}; use ${allowed.join(' or ')}`);
      }
      throw new PincerError('ROUTE_NOT_FOUND', `plugin ${plugin} has no route ${request.method} ${path}`);
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.headers)) {
      if (!HIDDEN_HEADERS.has(key) && typeof value === 'string') headers[key] = value;
    }
    const value = await match.target.invoke({
      method: request.method as HttpMethod,
      path,
      params: match.params,
      query: request.query as Record<string, string | string[]>,
      headers,
      body: request.body as JsonValue,
    } as never);
    const response = toRouteResponse(value);
    if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) {
      throw new PincerError('PLUGIN_BAD_RESPONSE', `plugin ${plugin} answered with status ${String(response.status)}`);
    }
    void reply.code(response.status);
    for (const [key, v] of Object.entries(response.headers ?? {})) void reply.header(key, v);
    if (response.body === undefined) return reply.send();
    return typeof response.body === 'string' ? reply.type(reply.getHeader('content-type') ? String(reply.getHeader('content-type')) : 'text/plain; charset=utf-8').send(response.body) : reply.send(response.body);
  };
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v1/plugins/:plugin/*',
    schema: { tags: ['plugins'], summary: 'Routes plugins register, below their own prefix', security: [{ bearer: [] }] },
    handler,
  });
}

/** Turn a route handler's answer into status, headers and body. */
export function toRouteResponse(value: unknown): Required<Pick<RouteResponse, 'status'>> & RouteResponse {
  // An envelope only when every key is one of status/headers/body and status is a number;
  // other objects are JSON data, whatever their keys.
  const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  const envelope = keys.length > 0 && keys.every((k) => k === 'status' || k === 'headers' || k === 'body') && ['number', 'undefined'].includes(typeof (value as RouteResponse).status);
  if (envelope) {
    const r = value as RouteResponse;
    return { status: r.status ?? 200, ...(r.headers ? { headers: r.headers } : {}), ...(r.body !== undefined ? { body: r.body } : {}) };
  }
  return { status: value === undefined ? 204 : 200, ...(value !== undefined ? { body: value as JsonValue } : {}) };
}
