import type { Command } from 'commander';
import { PincerError } from '../../errors.js';
import type { QueueStats } from '../../store/types.js';
import type { WorkerPoolStats } from '../../workers/worker-pool.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';

interface DeadView {
  id: string;
  conversationId: string;
  attempts: number;
  finishedAt: string | null;
  lastError: string | null;
  text: string;
}

export function queueCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  const queue = program.command('queue').description('inspect and operate the message queue (admin)');

  queue
    .command('stats')
    .description('depth by state and priority, the current limit, counters')
    .action(async () => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ queue: QueueStats; workers: WorkerPoolStats }>('GET', '/v1/admin/queue/stats');
      const q = body.queue;
      print(!!g.json, body, () =>
        table([
          ['backend', q.backend],
          ['depth', `${q.depth} (limit ${q.limit}, base ${q.baseLimit}, cap ${q.cap}, grown ${q.growths}x)`],
          ['states', Object.entries(q.byState).map(([k, v]) => `${k} ${v}`).join(', ')],
          ['waiting by priority', Object.entries(q.byPriority).map(([k, v]) => `${k} ${v}`).join(', ')],
          ['since start', `enqueued ${q.enqueued}, completed ${q.completed}, failed attempts ${q.failed}, dead ${q.deadLettered}, rejected ${q.rejected}`],
          ['oldest waiting', q.oldestQueuedAgeMs === null ? '-' : `${(q.oldestQueuedAgeMs / 1000).toFixed(1)} s`],
          ['workers', `${body.workers.inFlight} busy of ${body.workers.concurrency}`],
        ]),
      );
    });

  queue
    .command('dead')
    .description('list dead letters, most recent first')
    .option('-n, --limit <n>', 'how many', '50')
    .action(async (opts: { limit: string }) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ messages: DeadView[] }>('GET', `/v1/admin/queue/dead?limit=${encodeURIComponent(opts.limit)}`);
      print(!!g.json, body, () =>
        body.messages.length === 0
          ? 'no dead letters'
          : table([
              ['ID', 'CONVERSATION', 'ATTEMPTS', 'DIED', 'ERROR'],
              ...body.messages.map((m) => [m.id, m.conversationId, String(m.attempts), m.finishedAt ?? '-', (m.lastError ?? '').slice(0, 80)]),
            ]),
      );
    });

  queue
    .command('retry')
    .description('put dead letters back in the queue')
    .argument('[ids...]', 'message ids')
    .option('-a, --all', 'every dead letter')
    .action(async (ids: string[], opts: { all?: boolean }) => {
      const g = globals();
      if (!opts.all && ids.length === 0) throw new PincerError('CLI_USAGE', 'name message ids, or pass --all');
      const { body } = await ApiClient.from(g).call<{ retried: number }>('POST', '/v1/admin/queue/retry', opts.all ? { all: true } : { ids });
      print(!!g.json, body, () => `${body.retried} message(s) back in the queue`);
    });
}
