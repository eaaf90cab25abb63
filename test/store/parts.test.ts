import { describe, expect, it } from 'vitest';
import { QueueCapacity, type CapacityChange } from '../../src/store/capacity.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { RateMeter, retryAfterSeconds } from '../../src/store/rate-meter.js';
import { rankOf, retryDelay } from '../../src/store/ranking.js';
import { ManualClock } from '../support/index.js';

describe('QueueCapacity (S5.2)', () => {
  it('grows by 20 % when over 80 % full, up to the cap, and resets after draining', () => {
    const changes: CapacityChange[] = [];
    const capacity = new QueueCapacity(100, 150, (c) => changes.push(c));
    capacity.observe(80);
    expect(capacity.limit).toBe(100);
    capacity.observe(81);
    expect(capacity.limit).toBe(120);
    capacity.observe(97);
    expect(capacity.limit).toBe(144);
    capacity.observe(140);
    expect(capacity.limit).toBe(150);
    expect(capacity.admits(149)).toBe(true);
    expect(capacity.admits(150)).toBe(false);
    expect(capacity.growths).toBe(3);
    capacity.observe(60);
    expect(capacity.limit).toBe(150);
    capacity.observe(49);
    expect(capacity.limit).toBe(100);
    expect(changes.map((c) => `${c.kind}:${c.from}->${c.to}`)).toEqual(['grow:100->120', 'grow:120->144', 'grow:144->150', 'reset:150->100']);
  });
});

describe('GroupCommit', () => {
  it('flushes everything submitted in one turn as one batch, in order', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, number>((items) => {
      batches.push(items);
      return items.map((i) => i * 2);
    }, 100);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => group.submit(i)));
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(batches).toHaveLength(1);
  });

  it('splits at the batch size and keeps batches in order for async flushes', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, items[0] === 0 ? 20 : 0));
      return items;
    }, 10);
    await Promise.all(Array.from({ length: 25 }, (_, i) => group.submit(i)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat()).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('with inFlight, gathers what arrives during a running flush into the next batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const group = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await gate;
        return items;
      },
      100,
      undefined,
      1,
    );
    const first = group.submit(0);
    await new Promise((r) => setImmediate(r));
    // Submitted over several turns while the first flush is still running.
    const later: Array<Promise<number>> = [];
    for (let turn = 1; turn <= 3; turn++) {
      later.push(group.submit(turn));
      await new Promise((r) => setImmediate(r));
    }
    release();
    expect(await Promise.all([first, ...later])).toEqual([0, 1, 2, 3]);
    expect(batches).toEqual([[0], [1, 2, 3]]);
    group.submit(4);
    await group.settled();
    expect(batches).toEqual([[0], [1, 2, 3], [4]]);
  });

  it('rejects only the items whose outcome is an error, or all when the flush throws', async () => {
    const group = new GroupCommit<number, number>((items) => items.map((i) => (i % 2 ? new Error(`odd ${i}`) : i)), 10);
    const settled = await Promise.allSettled([0, 1, 2].map((i) => group.submit(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const broken = new GroupCommit<number, number>(() => {
      throw new Error('disk full');
    }, 10);
    const all = await Promise.allSettled([1, 2].map((i) => broken.submit(i)));
    expect(all.every((s) => s.status === 'rejected' && /disk full/.test(String(s.reason)))).toBe(true);
  });

  it('settled() waits for pending work', async () => {
    let flushed = 0;
    const group = new GroupCommit<number, number>((items) => {
      flushed += items.length;
      return items;
    }, 10);
    void group.submit(1);
    void group.submit(2);
    await group.settled();
    expect(flushed).toBe(2);
  });
});

describe('ranking and retry delay', () => {
  const aging = { normal: 10_000, low: 60_000 };
  it('ranks by arrival pushed back by priority aging', () => {
    expect(rankOf('high', 1000, aging)).toBe(1000);
    expect(rankOf('normal', 1000, aging)).toBe(11_000);
    expect(rankOf('low', 1000, aging)).toBe(61_000);
    expect(rankOf('low', 0, aging)).toBeLessThan(rankOf('high', 60_001, aging));
  });

  it('backs off exponentially with jitter, capped', () => {
    const options = { retryDelayMs: 5000, retryBackoff: 2, maxRetryDelayMs: 30_000 };
    expect(retryDelay(1, options, () => 0.5)).toBe(5000);
    expect(retryDelay(2, options, () => 0.5)).toBe(10_000);
    expect(retryDelay(3, options, () => 0.5)).toBe(20_000);
    expect(retryDelay(4, options, () => 0.5)).toBe(30_000);
    expect(retryDelay(1, options, () => 0)).toBe(4500);
    expect(retryDelay(1, options, () => 0.999999)).toBe(5500);
  });
});

describe('RateMeter and Retry-After', () => {
  it('measures events per second over its window', () => {
    const clock = new ManualClock(0);
    const meter = new RateMeter(10, clock.now);
    meter.mark(50);
    clock.advance(1000);
    meter.mark(50);
    expect(meter.perSecond()).toBe(10);
    clock.advance(20_000);
    expect(meter.perSecond()).toBe(0);
  });

  it('asks clients to wait for a tenth of the limit to drain, within 1..60 s', () => {
    expect(retryAfterSeconds(10_000, 1000)).toBe(1);
    expect(retryAfterSeconds(10_000, 100)).toBe(10);
    expect(retryAfterSeconds(10_000, 1)).toBe(60);
    expect(retryAfterSeconds(10_000, 0)).toBe(30);
  });
});
