import type { Logger } from 'pino';
import type { QueueAdmin } from './types.js';

const PURGE_EVERY_MS = 60 * 60 * 1000;

/** Hourly deletion of finished messages past `queue.retention`, as a lifecycle part's start and stop. */
export function retention(admin: QueueAdmin, retentionMs: number, log: Logger): { start(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const purge = async () => {
    try {
      const removed = await admin.purge(retentionMs);
      if (removed > 0) log.info({ event: 'queue.purge', removed }, `purged ${removed} finished message(s) past retention`);
    } catch (err) {
      log.error({ err }, 'purging finished messages failed');
    }
  };
  return {
    start() {
      timer = setInterval(() => void purge(), PURGE_EVERY_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
