/**
 * Collects operations issued in the same turn of the event loop and hands them to `flush`
 * together, so many concurrent enqueues (or acks) share one transaction and one fsync.
 * `flush` returns one outcome per item, in order; an outcome that is an Error rejects only
 * that item's promise. If `flush` itself throws, every item in the batch is rejected.
 */
export class GroupCommit<T, R> {
  private pending: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly flush: (items: T[]) => Promise<Array<R | Error>> | Array<R | Error>,
    private readonly maxBatch: number,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.drain();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.drain());
      }
    });
  }

  /** Resolves once everything submitted so far has been flushed. */
  async settled(): Promise<void> {
    while (this.pending.length > 0 || this.scheduled) {
      this.drain();
      await this.inFlight;
    }
    await this.inFlight;
  }

  private drain(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
    // Batches flush one after another so an async backend never commits them out of order.
    this.inFlight = this.inFlight.then(async () => {
      let outcomes: Array<R | Error>;
      try {
        outcomes = await this.flush(batch.map((p) => p.item));
      } catch (err) {
        for (const p of batch) p.reject(err);
        return;
      }
      batch.forEach((p, i) => {
        const outcome = outcomes[i] as R | Error;
        if (outcome instanceof Error) p.reject(outcome);
        else p.resolve(outcome);
      });
    });
  }
}
