import type { FastifyRequest } from 'fastify';
import { TERMINAL_STATES } from '../events/message-events.js';
import type { MessageRecord } from '../queue/types.js';
import type { ServerDeps } from './deps.js';

export interface MessageWaiter {
  /** A message as stored; a final state is shown only once it is durable. */
  durableView(id: string): Promise<MessageRecord | undefined>;
  /** The message once done or dead within `ms`, else undefined (also when the client leaves or Pincer shuts down). */
  waitForFinal(id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined>;
}

export function messageWaiter(deps: Pick<ServerDeps, 'queue' | 'events' | 'shutdownSignal'>): MessageWaiter {
  const { queue, events } = deps;
  const durableView = async (id: string): Promise<MessageRecord | undefined> => {
    const record = await queue.get(id);
    if (record && TERMINAL_STATES.has(record.state)) await queue.synced();
    return record;
  };
  const waitForFinal = async (id: string, ms: number, request: FastifyRequest): Promise<MessageRecord | undefined> => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    request.raw.once('close', stop);
    deps.shutdownSignal.addEventListener('abort', stop, { once: true });
    try {
      // Subscribe before looking, so a reply landing in between is not missed.
      const finished = events.waitForTerminal(id, ms, abort.signal);
      let record = await durableView(id);
      if (record && !TERMINAL_STATES.has(record.state) && (await finished)) record = await durableView(id);
      return record && TERMINAL_STATES.has(record.state) ? record : undefined;
    } finally {
      abort.abort();
      request.raw.off('close', stop);
      deps.shutdownSignal.removeEventListener('abort', stop);
    }
  };
  return { durableView, waitForFinal };
}
