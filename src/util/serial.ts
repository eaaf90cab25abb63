/**
 * A mutex as a promise chain: `run` calls wait for the ones before them, one at a time, and
 * a failed run never blocks the next. Used per plugin, so enable, disable, reload and a crash
 * restart of one plugin never interleave (others run in parallel).
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
