import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PINCER_ROOT } from '../../version.js';
import type { ServerDeps } from '../deps.js';

/**
 * The assets live next to this file in src/; the build compiles only .ts, so they are found
 * from the package root (which always ships src/server/dashboard/), whether running from
 * src/ (tests) or dist/src/.
 */
export const DASHBOARD_DIR = path.join(PINCER_ROOT, 'src', 'server', 'dashboard');

const ASSETS: ReadonlyArray<{ route: string; file: string; type: string }> = [
  { route: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { route: '/dashboard/dashboard.css', file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  { route: '/dashboard/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  { route: '/dashboard/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
];

/** Only this origin's files and API; no inline script or style, no framing. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The built-in dashboard and web chat at `/`. The page shell is public and holds no data; the
 * page reads everything from the API with the user's bearer token, so it is behind the same
 * auth as the API. Files are read once, at start-up.
 */
export function dashboardRoutes(app: FastifyInstance, deps: Pick<ServerDeps, 'log'>, dir: string = DASHBOARD_DIR): void {
  for (const asset of ASSETS) {
    const body = readFileSync(path.join(dir, asset.file));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    app.get(asset.route, { schema: { hide: true } }, async (request, reply) => {
      void reply
        .header('cache-control', 'no-cache')
        .header('etag', etag)
        .header('content-security-policy', DASHBOARD_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer');
      // no-cache: the browser revalidates every time, and an unchanged file costs a 304.
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(asset.type).send(body);
    });
  }
  deps.log.debug({ dir }, 'dashboard assets loaded');
}
