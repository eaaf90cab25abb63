/**
 * A producer that pushes values through a callback (llama.cpp's `onTextChunk`, say), as an
 * async iterable. `produce` starts on the first `next()`; its values come out in order, then
 * its failure, if it failed. A consumer that stops early (break, return, a throw) aborts the
 * producer's signal and waits for it to settle, so nothing it holds outlives the loop.
 */
export async function* pushIterator<T>(produce: (push: (value: T) => void, signal: AbortSignal) => Promise<void>): AsyncGenerator<T, void, undefined> {
  const stop = new AbortController();
  const pending: T[] = [];
  let wake: (() => void) | undefined;
  let settled = false;
  let failure: { error: unknown } | undefined;
  const running = produce((value) => {
    pending.push(value);
    wake?.();
  }, stop.signal)
    .then(
      () => undefined,
      (error: unknown) => {
        failure = { error };
      },
    )
    .finally(() => {
      settled = true;
      wake?.();
    });
  try {
    for (;;) {
      while (pending.length > 0) yield pending.shift() as T;
      if (settled) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (failure) throw failure.error;
  } finally {
    if (!settled) {
      stop.abort();
      await running;
    }
  }
}
