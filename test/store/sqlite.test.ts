import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import { queueOptions, tempDir } from '../support/index.js';
import { describeQueueConformance } from './conformance.js';

describeQueueConformance('sqlite', async (options) => {
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
});

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
