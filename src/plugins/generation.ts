import type { RegistrationOwner } from '../pipeline/registry.js';
import type { Disposer } from '../pipeline/types.js';
import type { RegistrationSpec } from './protocol.js';
import type { PluginThread } from './plugin-thread.js';

/**
 * One running generation of a plugin and everything it registered. Registrations made during
 * setup are staged and only become visible at `activate()`, so a reload swaps the old
 * generation for the new one in a single step. Every visible registration keeps its
 * disposer here: deactivating removes exactly what the plugin added. It also counts the
 * messages and calls still using it, so a reload lets them finish before its thread ends.
 */
export class Generation implements RegistrationOwner {
  readonly specs = new Map<number, RegistrationSpec>();
  private readonly live = new Map<number, Disposer>();
  private active = false;
  private users = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly thread: PluginThread,
    /** Makes one registration visible (in the pipeline, the router, the service table). */
    private readonly attach: (generation: Generation, handle: number, spec: RegistrationSpec) => Disposer,
    /** A registration made after activation could not be attached. */
    private readonly rejected: (err: unknown, spec: RegistrationSpec) => void,
  ) {}

  get number(): number {
    return this.thread.generation;
  }

  get isActive(): boolean {
    return this.active;
  }

  onRegister(handle: number, spec: RegistrationSpec): void {
    this.specs.set(handle, spec);
    if (!this.active) return;
    try {
      this.live.set(handle, this.attach(this, handle, spec));
    } catch (err) {
      this.specs.delete(handle);
      this.rejected(err, spec);
    }
  }

  onUnregister(handle: number): void {
    this.specs.delete(handle);
    this.live.get(handle)?.();
    this.live.delete(handle);
  }

  /** Make every staged registration visible; on a conflict, undo them all and throw. */
  activate(): void {
    this.active = true;
    try {
      for (const [handle, spec] of this.specs) this.live.set(handle, this.attach(this, handle, spec));
    } catch (err) {
      this.deactivate();
      throw err;
    }
  }

  /** Remove every registration from view, newest first. In-flight messages keep theirs. */
  deactivate(): void {
    this.active = false;
    for (const dispose of [...this.live.values()].reverse()) dispose();
    this.live.clear();
  }

  /** A message (or a route, service, tool or channel call) started using this generation. */
  acquire(): void {
    this.users++;
  }

  release(): void {
    this.users--;
    if (this.users === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Run a call from outside a message (HTTP, a service, a tool, a delivery), keeping the generation alive until it answers, as messages do. */
  async hold<T>(run: () => Promise<T>): Promise<T> {
    this.acquire();
    try {
      return await run();
    } finally {
      this.release();
    }
  }

  /** Resolves once nothing uses this generation, or after `timeoutMs`; true if drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.users === 0 || !this.thread.alive) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.idleWaiters.push(wake);
    });
  }
}
