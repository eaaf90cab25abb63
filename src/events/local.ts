import { EventEmitter } from 'node:events';
import { Listeners } from '../util/listeners.js';
import type { MessageEvent, MessageEventBus } from './types.js';

/**
 * Message events within one process. Listeners subscribe by message id, so a busy bot does
 * not wake every waiter on every event. A throwing listener is logged by the caller's
 * `onError` and never reaches the publisher (the worker pool).
 */
export class LocalMessageEvents implements MessageEventBus {
  readonly resyncMs = undefined;
  private readonly byId = new EventEmitter();
  private readonly all: Listeners<[MessageEvent]>;

  constructor(private readonly onError: (err: unknown) => void = () => {}) {
    // One listener per waiting HTTP client; the count is bounded by connections, not a leak.
    this.byId.setMaxListeners(0);
    this.all = new Listeners(onError);
  }

  publish(event: MessageEvent): void {
    this.deliver(event);
    this.all.emit(event);
  }

  /** Hand an event to its message's subscribers only (events that came from another node). */
  deliver(event: MessageEvent): void {
    // Each listener on its own: one that throws must not hide the event from the others.
    for (const listener of this.byId.listeners(event.id) as Array<(event: MessageEvent) => void>) {
      try {
        listener(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  /** Whether anyone here watches the message. */
  watched(id: string): boolean {
    return this.byId.listenerCount(id) > 0;
  }

  subscribe(id: string, listener: (event: MessageEvent) => void): () => void {
    this.byId.on(id, listener);
    return () => this.byId.off(id, listener);
  }

  subscribeLocal(listener: (event: MessageEvent) => void): () => void {
    return this.all.add(listener);
  }

  async close(): Promise<void> {
    this.byId.removeAllListeners();
    this.all.clear();
  }
}
