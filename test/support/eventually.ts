/**
 * Poll a condition until it holds. This synchronises on observable state (a row, a status),
 * unlike a sleep; it fails with the last value seen when the deadline passes. A module of its
 * own so fakes and plugin tests can use it without loading the rest of the test support.
 */
export async function eventually<T>(probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
