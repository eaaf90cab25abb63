import type { Logger } from 'pino';
import type { Store } from './types.js';

const PURGE_EVERY_MS = 60 * 60 * 1000;

/**
 * Hourly deletion past `queue.retention` of finished messages and finished deliveries (sent,
 * dead, ambiguous), of expired pairing requests, of the agent's journal and decided approvals,
 * of agent memory's indexed turns and summaries (facts stay), and of the questions the
 * knowledge base could not answer, as a lifecycle part's start and stop. Each purge goes on
 * when another fails: they are separate tables.
 */
export function retention(store: Pick<Store, 'admin' | 'channels' | 'agent' | 'memory' | 'knowledge'>, retentionMs: number, log: Logger): { start(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const run = async (what: string, purge: () => Promise<number>) => {
    try {
      const removed = await purge();
      if (removed > 0) log.info({ event: 'queue.purge', what, removed }, `purged ${removed} ${what} past retention`);
    } catch (err) {
      log.error({ err, what }, `purging ${what} failed`);
    }
  };
  const purge = async () => {
    await run('finished message(s)', () => store.admin.purge(retentionMs));
    await run('finished delivery(ies)', () => store.channels.purgeDeliveries(retentionMs));
    await run('expired pairing request(s)', () => store.channels.purgeExpiredPairings());
    await run('agent journal row(s) and decided approval(s)', () => store.agent.purge(retentionMs));
    await run('memory turn(s) and summary(ies)', () => store.memory.purge(retentionMs));
    await run('unanswered knowledge-base question(s)', () => store.knowledge.purgeUnanswered(retentionMs));
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
