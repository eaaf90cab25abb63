import { TERMINAL_STATES, type MessageEventBus } from './types.js';

/**
 * Resolves 'terminal' when the message reaches done or dead, 'resync' when the bus says the
 * store should be read again (an event may have been lost), and 'timeout' on timeout or abort.
 */
export function nextTerminal(bus: MessageEventBus, id: string, timeoutMs: number, signal?: AbortSignal): Promise<'terminal' | 'resync' | 'timeout'> {
  return new Promise((resolve) => {
    const finish = (value: 'terminal' | 'resync' | 'timeout') => {
      clearTimeout(timer);
      clearTimeout(resync);
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => finish('timeout');
    const unsubscribe = bus.subscribe(id, (event) => {
      if (event.type === 'status' && TERMINAL_STATES.has(event.status)) finish('terminal');
    });
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const resync = bus.resyncMs !== undefined && bus.resyncMs < timeoutMs ? setTimeout(() => finish('resync'), bus.resyncMs) : undefined;
    if (signal?.aborted) finish('timeout');
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
