import FindMyWay from 'find-my-way';
import type { Disposer } from '../pipeline/types.js';
import type { HttpMethod } from './sdk.js';

export interface RouteTarget {
  invoke(request: { method: HttpMethod; path: string; params: Record<string, string> }): Promise<unknown>;
}

export interface RouteMatch {
  target: RouteTarget;
  params: Record<string, string>;
}

/**
 * The HTTP routes of one plugin, below /v1/plugins/<name>. Fastify cannot add routes after
 * it started, so one catch-all route hands requests to this table, which plugins change
 * freely while running.
 */
export class RouteTable {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true });

  add(method: HttpMethod, path: string, target: RouteTarget): Disposer {
    // find-my-way handlers take (req, res, ...); ours only carries the target along.
    this.router.on(method, path, () => undefined, target);
    return () => this.router.off(method, path);
  }

  find(method: string, path: string): RouteMatch | undefined {
    const found = this.router.find(method as HttpMethod, path);
    if (!found) return undefined;
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(found.params)) if (value !== undefined) params[key] = value;
    return { target: found.store as RouteTarget, params };
  }

  /** Methods some route accepts at this path, for a 405's Allow header. */
  allowed(path: string): string[] {
    return (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const).filter((m) => this.router.find(m, path) !== null);
  }
}
