import type { FastifyRequest } from 'fastify';
import { TERMINAL_STATES } from '../events/types.js';
import { nextTerminal } from '../events/wait.js';
import type { MessageRecord } from '../store/types.js';
import type { ServerDeps } from './deps.js';

export interface MessageWaiter {
  /** A message as stored; a final state is shown only once it is durable. */
  durableView(id: string): Promise<MessageRecord | undefined>;
  /** The message once done or dead within `ms`, else undefined (also when the client leaves or Pincer shuts down). */
  waitForFinal(id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined>;
}

/**
 * Waiting for a message, whichever node processes it: the events say when to look, and the
 * store says what happened. The bus's resync interval bounds how long a lost event can delay
 * a waiter.
 */
export function messageWaiter(deps: Pick<ServerDeps, 'store' | 'shutdownSignal'>): MessageWaiter {
  const { messages, events } = deps.store;
  const durableView = async (id: string): Promise<MessageRecord | undefined> => {
    const record = await messages.get(id);
    if (record && TERMINAL_STATES.has(record.state)) await messages.synced();
    return record;
  };
  const waitForFinal = async (id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined> => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    request.raw.once('close', stop);
    deps.shutdownSignal.addEventListener('abort', stop, { once: true });
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        // Subscribe before looking, so a reply landing in between is not missed.
        const next = nextTerminal(events, id, Math.max(0, deadline - Date.now()), abort.signal);
        const record = await durableView(id);
        if (!record || TERMINAL_STATES.has(record.state)) return record && TERMINAL_STATES.has(record.state) ? record : undefined;
        const outcome = await next;
        if (outcome === 'timeout') return undefined;
        if (outcome === 'terminal') {
          const final = await durableView(id);
          return final && TERMINAL_STATES.has(final.state) ? final : undefined;
        }
      }
    } finally {
      abort.abort();
      request.raw.off('close', stop);
      deps.shutdownSignal.removeEventListener('abort', stop);
    }
  };
  return { durableView, waitForFinal };
}
