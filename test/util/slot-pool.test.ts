import { describe, expect, it } from 'vitest';
import { SlotPool } from '../../src/util/slot-pool.js';

describe('SlotPool', () => {
  it('lends free slots, then queues callers in arrival order and hands a released slot to the first', async () => {
    const pool = new SlotPool(['a', 'b']);
    const first = await pool.acquire();
    const second = await pool.acquire();
    const order: string[] = [];
    const third = pool.acquire().then((s) => (order.push(`third got ${s.value}`), s));
    const fourth = pool.acquire().then((s) => (order.push(`fourth got ${s.value}`), s));
    expect(pool.stats).toEqual({ running: 2, waiting: 2, free: 0 });
    second.release();
    second.release(); // a second release does nothing
    await third;
    first.release();
    await fourth;
    expect(order).toEqual([`third got ${second.value}`, `fourth got ${first.value}`]);
    expect(pool.stats).toEqual({ running: 2, waiting: 0, free: 0 });
  });

  it('lends the most recently released slot first (its caches are warm)', async () => {
    const pool = new SlotPool([1, 2]);
    const a = await pool.acquire();
    const b = await pool.acquire();
    b.release();
    a.release();
    expect((await pool.acquire()).value).toBe(a.value);
  });

  it('takes an aborted waiter out of the line, and refuses callers past maxWaiting', async () => {
    const pool = new SlotPool([0], { maxWaiting: 1, full: ({ waiting }) => new Error(`full with ${waiting} waiting`), aborted: () => new Error('gave up') });
    const held = await pool.acquire();
    const controller = new AbortController();
    const leaving = pool.acquire(controller.signal);
    await expect(pool.acquire()).rejects.toThrow('full with 1 waiting');
    controller.abort();
    await expect(leaving).rejects.toThrow('gave up');
    expect(pool.stats.waiting).toBe(0);
    const next = pool.acquire();
    held.release();
    expect((await next).value).toBe(0);
    await expect(pool.acquire(AbortSignal.abort())).rejects.toThrow('gave up');
  });

  it('gives slots added later to waiters, and fails waiters and later callers once closed', async () => {
    const pool = new SlotPool<string>();
    const waiting = pool.acquire();
    pool.add('late');
    const slot = await waiting;
    expect(slot.value).toBe('late');
    const stuck = pool.acquire();
    pool.close(new Error('closed'));
    await expect(stuck).rejects.toThrow('closed');
    await expect(pool.acquire()).rejects.toThrow('closed');
    slot.release();
    expect(pool.stats).toEqual({ running: 0, waiting: 0, free: 0 });
  });
});
