import { EventEmitter } from 'node:events';
import type { MessageState, Reply } from '../queue/types.js';

export type MessageEvent =
  | { type: 'status'; id: string; status: MessageState; attempts: number; error?: string }
  | { type: 'token'; id: string; delta: string }
  | { type: 'reply'; id: string; reply: Reply };

export const TERMINAL_STATES: ReadonlySet<MessageState> = new Set(['done', 'dead']);

/**
 * Per-instance fan-out of what happens to each message, for SSE streams and `?wait=`.
 * Listeners subscribe by message id, so a busy bot does not wake every waiter on every event.
 */
export class MessageEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per waiting HTTP client; the count is bounded by connections, not a leak.
    this.emitter.setMaxListeners(0);
  }

  emit(event: MessageEvent): void {
    this.emitter.emit(event.id, event);
    this.emitter.emit('*', event);
  }

  /** Subscribe to one message's events. Returns the disposer. */
  subscribe(id: string, listener: (event: MessageEvent) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }

  /** Every message's events (dashboard, metrics). Returns the disposer. */
  subscribeAll(listener: (event: MessageEvent) => void): () => void {
    return this.subscribe('*', listener);
  }

  /** Resolves true when the message reaches done or dead, false on timeout or abort. */
  waitForTerminal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => finish(false);
      const unsubscribe = this.subscribe(id, (event) => {
        if (event.type === 'status' && TERMINAL_STATES.has(event.status)) finish(true);
      });
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
