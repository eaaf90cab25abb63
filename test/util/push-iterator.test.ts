import { describe, expect, it } from 'vitest';
import { pushIterator } from '../../src/util/push-iterator.js';

describe('pushIterator', () => {
  it('yields what the producer pushes, in order, then its failure', async () => {
    const seen: number[] = [];
    const values = pushIterator<number>(async (push) => {
      push(1);
      await Promise.resolve();
      push(2);
      push(3);
      throw new Error('producer failed');
    });
    await expect(
      (async () => {
        for await (const v of values) seen.push(v);
      })(),
    ).rejects.toThrow('producer failed');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('does not start the producer before the first read', async () => {
    let started = false;
    const values = pushIterator<number>(async () => {
      started = true;
    });
    expect(started).toBe(false);
    await values.next();
    expect(started).toBe(true);
  });

  it('aborts the producer when the consumer stops early, and waits for it to clean up', async () => {
    const events: string[] = [];
    const values = pushIterator<number>(
      (push, signal) =>
        new Promise<void>((resolve) => {
          push(1);
          signal.addEventListener('abort', () => {
            events.push('aborted');
            // Cleanup takes a turn of the event loop; the loop's exit waits for it.
            setImmediate(() => (events.push('cleaned up'), resolve()));
          });
        }),
    );
    for await (const v of values) {
      events.push(`got ${v}`);
      break;
    }
    events.push('after the loop');
    expect(events).toEqual(['got 1', 'aborted', 'cleaned up', 'after the loop']);
  });
});
