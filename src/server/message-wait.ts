import type { FastifyRequest } from 'fastify';
import { TERMINAL_STATES, type MessageEvent } from '../events/types.js';
import type { MessageRecord } from '../store/types.js';
import type { ServerDeps } from './deps.js';

export interface MessageWaiter {
  /** A message as stored; a final state is shown only once it is durable. */
  durableView(id: string): Promise<MessageRecord | undefined>;
  /**
   * Follow a message until it is final, whichever node processes it: `onEvent` gets each live
   * event but the final status, `onFinal` once gets the durable final record. Returns the disposer.
   */
  follow(id: string, onEvent: (event: MessageEvent) => void, onFinal: (record: MessageRecord) => void): () => void;
  /** The message once done or dead within `ms`, else undefined (also when the client leaves or Pincer shuts down). */
  waitForFinal(id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined>;
}

/**
 * Waiting for a message: the events say when to look, and the store says what happened. Where
 * events can be lost (a node dying between its commit and its relay), the store is read again
 * every `resyncMs` of the bus, which bounds how long a lost event can delay a watcher.
 */
export function messageWaiter(deps: Pick<ServerDeps, 'store' | 'shutdownSignal'>): MessageWaiter {
  const { messages, events } = deps.store;
  const durableView = async (id: string): Promise<MessageRecord | undefined> => {
    const record = await messages.get(id);
    if (record && TERMINAL_STATES.has(record.state)) await messages.synced();
    return record;
  };

  const follow = (id: string, onEvent: (event: MessageEvent) => void, onFinal: (record: MessageRecord) => void): (() => void) => {
    let done = false;
    const look = async () => {
      const record = await durableView(id).catch(() => undefined);
      if (done || !record || !TERMINAL_STATES.has(record.state)) return;
      stop();
      onFinal(record);
    };
    const unsubscribe = events.subscribe(id, (event) => {
      if (done) return;
      if (event.type === 'status' && TERMINAL_STATES.has(event.status)) void look();
      else onEvent(event);
    });
    const resync = events.resyncMs === undefined ? undefined : setInterval(() => void look(), events.resyncMs);
    resync?.unref();
    const stop = () => {
      done = true;
      unsubscribe();
      clearInterval(resync);
    };
    // Subscribed before looking, so a reply landing in between is not missed.
    void look();
    return stop;
  };

  const waitForFinal = (id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined> =>
    new Promise((resolve) => {
      const finish = (record: MessageRecord | undefined) => {
        stop();
        clearTimeout(timer);
        request.raw.off('close', leave);
        deps.shutdownSignal.removeEventListener('abort', leave);
        resolve(record);
      };
      const leave = () => finish(undefined);
      const stop = follow(id, () => {}, finish);
      const timer = setTimeout(leave, ms);
      request.raw.once('close', leave);
      if (deps.shutdownSignal.aborted) leave();
      else deps.shutdownSignal.addEventListener('abort', leave, { once: true });
    });

  return { durableView, follow, waitForFinal };
}
