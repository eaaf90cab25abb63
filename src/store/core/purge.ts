const PURGE_CHUNK = 2000;

type Awaitable<T> = T | Promise<T>;

export interface PurgeSteps {
  /** The smallest and largest `seq` in the store, null when it is empty. */
  bounds(): Awaitable<{ lo: number | null; hi: number | null }>;
  /** The first row at or after `seq`. */
  firstFrom(seq: number): Awaitable<{ seq: number; created_at: number } | undefined>;
  /** Delete up to `limit` done messages with `seq <= cutoff`; returns how many went. */
  deleteChunk(cutoff: number, limit: number): Awaitable<number>;
  /** Stop between chunks (the store is closing). */
  stopped(): boolean;
}

/**
 * Deletes done messages created before `time`, oldest first, in chunks with a yield between
 * them, so a large purge never holds a long transaction or stalls the event loop. `seq`
 * follows arrival, so the cut-off is found by a binary search on the primary key.
 */
export async function purgeBefore(time: number, steps: PurgeSteps): Promise<number> {
  const cutoff = await lastSeqCreatedBefore(time, steps);
  if (cutoff === undefined) return 0;
  return deleteInChunks((limit) => steps.deleteChunk(cutoff, limit), steps.stopped);
}

/** Runs `deleteChunk` until it deletes less than a chunk (or `stopped`), yielding between chunks. Returns how many went. */
export async function deleteInChunks(deleteChunk: (limit: number) => Awaitable<number>, stopped: () => boolean): Promise<number> {
  let removed = 0;
  while (!stopped()) {
    const changes = await deleteChunk(PURGE_CHUNK);
    removed += changes;
    if (changes < PURGE_CHUNK) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return removed;
}

async function lastSeqCreatedBefore(time: number, steps: PurgeSteps): Promise<number | undefined> {
  const { lo, hi } = await steps.bounds();
  if (lo === null || hi === null) return undefined;
  let low = lo;
  let high = hi;
  let found: number | undefined;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    const row = await steps.firstFrom(mid);
    if (row && row.created_at < time) {
      found = row.seq;
      low = row.seq + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}
