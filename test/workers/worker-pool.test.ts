import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMessageEvents } from '../../src/events/local.js';
import type { MessageEvent } from '../../src/events/types.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import type { ClaimedMessage, Completion, QueueOptions } from '../../src/store/types.js';
import { WorkerPool, type MessageHandler } from '../../src/workers/worker-pool.js';
import { eventually, queueOptions, tempDir } from '../support/index.js';

const log = pino({ level: 'silent' });
const done = (text: string): Completion => ({ analysis: {}, reply: { text, responder: 'test' } });

let teardown: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of teardown.reverse()) await fn();
  teardown = [];
});

function setup(handler: MessageHandler, options: Partial<QueueOptions> = {}, concurrency = 4, shutdownTimeoutMs = 2000) {
  const { dir, cleanup } = tempDir();
  const queue = new SqliteQueue(path.join(dir, 'q.db'), queueOptions({ retryDelayMs: 20, maxRetryDelayMs: 100, ...options }));
  const events = new LocalMessageEvents();
  const seen: MessageEvent[] = [];
  events.subscribeLocal((e) => seen.push(e));
  const pool = new WorkerPool(queue, handler, events, log, { concurrency, shutdownTimeoutMs, leaseMs: options.leaseMs ?? 30_000, idlePollMs: 50 });
  teardown.push(cleanup, () => queue.close(), () => pool.stop());
  pool.start();
  const send = (conversationId: string, text = 'x') => queue.enqueue({ text, conversationId, channel: 't', priority: 'normal' });
  return { queue, events, pool, seen, send };
}

describe('WorkerPool', () => {
  it('processes messages concurrently but never two of one conversation at once', async () => {
    let running = 0;
    let peak = 0;
    const active = new Set<string>();
    const order: string[] = [];
    let overlaps = 0;
    const { queue, send } = setup(async (m) => {
      if (active.has(m.conversationId)) overlaps++;
      active.add(m.conversationId);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(m.text);
      active.delete(m.conversationId);
      running--;
      return done(m.text.toUpperCase());
    });
    const sent = [];
    for (let i = 0; i < 40; i++) sent.push(await send(`c${i % 8}`, `c${i % 8}-${i}`));
    await eventually(() => queue.stats(), (s) => s.completed === 40, 10_000, 'all 40 done');
    expect(overlaps).toBe(0);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(4);
    for (let c = 0; c < 8; c++) {
      const mine = order.filter((t) => t.startsWith(`c${c}-`));
      expect(mine).toEqual(sent.map((_, i) => i).filter((i) => i % 8 === c).map((i) => `c${c}-${i}`));
    }
    expect((await queue.get(sent[0]!.id))!.reply!.text).toBe('C0-0');
  });

  it('retries a failing message and dead-letters it after max attempts, publishing each status', async () => {
    const { queue, seen, send } = setup(async () => {
      throw new Error('provider down');
    }, { maxAttempts: 3 });
    const { id } = await send('c1');
    // The row is dead as soon as the ack commits; its event follows once the ack is durable.
    const statusesOf = () => seen.filter((e) => e.id === id && e.type === 'status').map((e) => (e as { status: string }).status);
    const statuses = await eventually(statusesOf, (s) => s.includes('dead'), 5000, 'the dead status published');
    expect(statuses).toEqual(['processing', 'failed', 'processing', 'failed', 'processing', 'dead']);
    expect(await queue.get(id)).toMatchObject({ state: 'dead', attempts: 3, lastError: 'provider down' });
  });

  it('recovers when a later attempt succeeds', async () => {
    let calls = 0;
    const { queue, send } = setup(async (m) => {
      calls++;
      if (m.attempts < 2) throw new Error('flaky');
      return done('second time lucky');
    });
    const { id } = await send('c1');
    const record = await eventually(() => queue.get(id), (m) => m?.state === 'done', 5000, 'done');
    expect(record).toMatchObject({ attempts: 2, reply: { text: 'second time lucky' } });
    expect(calls).toBe(2);
  });

  it('lets in-flight work finish on stop, and claims nothing afterwards', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const { queue, pool, send } = setup(async (m) => {
      started.push(m.id);
      await gate;
      return done('finished');
    }, {}, 1);
    const a = await send('c1');
    await eventually(() => started.length, (n) => n === 1, 5000, 'first message started');
    const b = await send('c2');
    const stopping = pool.stop();
    release();
    await stopping;
    expect((await queue.get(a.id))!.state).toBe('done');
    expect((await queue.get(b.id))!.state).toBe('queued');
    expect(started).toEqual([a.id]);
  });

  it('releases unfinished work for re-delivery when the shutdown deadline passes', async () => {
    let aborted = 0;
    const { queue, pool, send } = setup(
      (_m: ClaimedMessage, signal: AbortSignal) =>
        new Promise<Completion>((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted++;
            reject(new Error('aborted'));
          });
        }),
      {},
      2,
      100,
    );
    const a = await send('c1');
    const b = await send('c2');
    await eventually(() => queue.stats(), (s) => s.byState.processing === 2, 5000, 'both processing');
    await pool.stop();
    expect(aborted).toBe(2);
    for (const id of [a.id, b.id]) expect(await queue.get(id)).toMatchObject({ state: 'queued', attempts: 0, lastError: null });
  });

  it('keeps leases alive for slow work, so it is not handed to another worker', async () => {
    let calls = 0;
    const { queue, send } = setup(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 600));
      return done('slow but steady');
    }, { leaseMs: 200 });
    const { id } = await send('c1');
    const record = await eventually(() => queue.get(id), (m) => m?.state === 'done', 5000, 'done');
    expect(record!.attempts).toBe(1);
    expect(calls).toBe(1);
  });

  it('changes concurrency at run time', async () => {
    const { pool } = setup(async () => done('x'), {}, 2);
    expect(pool.concurrency).toBe(2);
    pool.setConcurrency(7);
    expect(pool.stats().concurrency).toBe(7);
    pool.setConcurrency(0);
    expect(pool.concurrency).toBe(1);
  });
});
