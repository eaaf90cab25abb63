import pino from 'pino';
import { LocalMessageEvents } from '../src/events/local.js';
import type { Queue } from '../src/store/types.js';
import { WorkerPool } from '../src/workers/worker-pool.js';

/**
 * A queue backend by itself: `jobs` enqueued in-process, 1,000 at a time, then claimed and
 * completed by 32 workers with a no-op handler. The same procedure for every backend (and for
 * BullMQ in run.ts), so the figures compare.
 */
export async function measureQueueAlone(queue: Queue, jobs: number): Promise<{ enqueue: number; process: number }> {
  let t = performance.now();
  for (let i = 0; i < jobs; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => queue.enqueue({ text: `job ${i + j}`, conversationId: `c${i + j}`, channel: 'bench', priority: 'normal' })));
  }
  const enqueue = jobs / ((performance.now() - t) / 1000);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  const events = new LocalMessageEvents();
  events.subscribeLocal((e) => {
    if (e.type === 'status' && e.status === 'done' && ++done === jobs) finish();
  });
  const pool = new WorkerPool(queue, async () => ({ analysis: {}, reply: { text: 'ok', responder: 'bench' } }), events, pino({ level: 'silent' }), {
    concurrency: 32,
    shutdownTimeoutMs: 5000,
    leaseMs: 30_000,
  });
  t = performance.now();
  pool.start();
  await finished;
  const process = jobs / ((performance.now() - t) / 1000);
  await pool.stop();
  return { enqueue, process };
}
