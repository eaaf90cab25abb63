import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.js';
import { ManualClock, queueOptions, tempDir } from '../support/index.js';
import { describeQueueConformance, type QueueFactory } from './conformance.js';
import { delivery, describeOutboxConformance } from './channel-conformance.js';
import { describeLeaseAndPairingConformance } from './lease-pairing-conformance.js';
import { describeAgentConformance } from './agent-conformance.js';
import { describeReceiptConformance } from './receipt-conformance.js';
import { describeMemoryConformance } from './memory-conformance.js';
import { describeKnowledgeConformance } from './knowledge-conformance.js';

const factory: QueueFactory = async (options) => {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'queue.db');
  let queue = new SqliteQueue(file, options);
  return {
    get queue() {
      return queue;
    },
    async reopen() {
      await queue.close();
      queue = new SqliteQueue(file, options);
      return queue;
    },
    async destroy() {
      await queue.close();
      cleanup();
    },
  };
};
describeQueueConformance('sqlite', factory);
describeOutboxConformance('sqlite', factory);
describeLeaseAndPairingConformance('sqlite', factory);
describeReceiptConformance('sqlite', factory);
describeAgentConformance('sqlite', factory);
describeMemoryConformance('sqlite', factory);
describeKnowledgeConformance('sqlite', factory);

describe('SqliteQueue specifics', () => {
  it('commits before enqueue resolves: another connection sees the row after close', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const queue = new SqliteQueue(file, queueOptions());
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => queue.enqueue({ text: `m${i}`, conversationId: `c${i}`, channel: 't', priority: 'normal' })));
    await queue.close();
    const db = new Database(file, { readonly: true });
    const ids = db.prepare('SELECT id FROM messages').all().map((r) => (r as { id: string }).id);
    db.close();
    expect(ids.sort()).toEqual(results.map((r) => r.id).sort());
    cleanup();
  });

  it('refuses a second process-level owner of the same file', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const queue = new SqliteQueue(file, queueOptions());
    expect(() => new SqliteQueue(file, queueOptions())).toThrow(/in use by another Pincer/);
    await queue.close();
    const again = new SqliteQueue(file, queueOptions());
    await again.close();
    cleanup();
  });

  it('re-delivers at once what a crashed run left in processing', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const queue = new SqliteQueue(file, queueOptions());
    const { id } = await queue.enqueue({ text: 'x', conversationId: 'c', channel: 't', priority: 'normal' });
    await queue.claim(1);
    await queue.close(); // as if the process died holding the lease
    const restarted = new SqliteQueue(file, queueOptions());
    const [again] = await restarted.claim(1);
    expect(again).toMatchObject({ id, attempts: 2 });
    await restarted.close();
    cleanup();
  });

  it('finds at once the deliveries a crashed run left sending, for recovery to decide', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const clock = new ManualClock();
    const queue = new SqliteQueue(file, queueOptions({ now: clock.now }));
    await queue.addDeliveries([delivery('tg:A'), delivery('tg:B')]);
    await queue.claimDeliveries(1);
    await queue.close(); // as if the process died mid-send
    const restarted = new SqliteQueue(file, queueOptions({ now: clock.now }));
    expect(await restarted.nextDeliveryDueAt()).toBe(clock.time);
    expect(await restarted.recoverDeliveries(() => false)).toBe(1);
    expect(await restarted.listDeliveries({ limit: 10, state: 'ambiguous' })).toHaveLength(1);
    await restarted.close();
    cleanup();
  });

  it('opens a version-1 file and adds the channel tables, keeping its messages', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!.sqlite);
    db.prepare(`INSERT INTO messages (id, conversation_id, text, channel, priority, state, head, rank, due_at, created_at, updated_at) VALUES ('m1', 'c', 'old', 't', 1, 'queued', 1, 0, 0, 0, 0)`).run();
    db.pragma('user_version = 1');
    db.close();
    const queue = new SqliteQueue(file, queueOptions());
    expect((await queue.claim(1)).map((m) => m.text)).toEqual(['old']);
    await queue.addDeliveries([delivery('tg:A')]);
    expect(await queue.claimDeliveries(1)).toHaveLength(1);
    await queue.close();
    const check = new Database(file, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
    cleanup();
  });

  it('refuses a store written by a newer schema', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'q.db');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteQueue(file, queueOptions())).toThrow(/newer Pincer/);
    cleanup();
  });
});
