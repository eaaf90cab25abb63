/**
 * Collects operations issued in the same turn of the event loop and hands them to `flush`
 * together, so many concurrent enqueues (or acks) share one transaction. `flush` returns one
 * outcome per item, in order; an outcome that is an Error rejects only that item's promise, and
 * a thrown error rejects the whole batch.
 *
 * Flushes run one after another, in submission order. When `durable` is given, each batch's
 * callers are answered only after it resolves (e.g. an fsync), but the next flush does not wait
 * for it: the write of batch n+1 overlaps the sync of batch n.
 *
 * With `inFlight` set (a store reached over the network, where a flush takes round trips), a
 * batch is cut only when fewer than that many flushes are running: everything submitted while
 * they run waits and goes out together in the next one, so batches grow with the load instead
 * of being one event-loop turn each.
 */
export class GroupCommit<T, R> {
  private pending: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private writes: Promise<void> = Promise.resolve();
  private answered: Promise<void> = Promise.resolve();

  private running = 0;

  constructor(
    private readonly flush: (items: T[]) => Promise<Array<R | Error>> | Array<R | Error>,
    private readonly maxBatch: number,
    private readonly durable?: () => Promise<void>,
    private readonly inFlight?: number,
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

  /** Resolves once everything submitted so far has been flushed and answered. */
  async settled(): Promise<void> {
    while (this.inFlight !== undefined && (this.pending.length > 0 || this.scheduled || this.running > 0)) {
      this.drain();
      await this.answered;
    }
    while (this.pending.length > 0 || this.scheduled) {
      this.drain();
      await this.writes;
    }
    await this.answered;
  }

  private drain(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    if (this.inFlight !== undefined) {
      while (this.pending.length > 0 && this.running < this.inFlight) this.start(this.pending.splice(0, this.maxBatch));
      return;
    }
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
    const written = this.writes.then(() => this.flush(batch.map((p) => p.item)));
    this.writes = written.then(
      () => undefined,
      () => undefined,
    );
    this.answer(batch, written);
  }

  /** `inFlight` mode: run one batch now; when it is answered, the next batch goes out. */
  private start(batch: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }>): void {
    this.running++;
    const answered = this.answer(
      batch,
      Promise.resolve().then(() => this.flush(batch.map((p) => p.item))),
    ).finally(() => {
      this.running--;
      if (this.pending.length > 0) this.drain();
    });
    this.answered = Promise.all([this.answered, answered]).then(() => undefined);
  }

  /** Once the batch's writes are done (and durable), settle each caller with its own outcome. */
  private answer(batch: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }>, written: Promise<Array<R | Error>>): Promise<void> {
    const answered = written
      .then(async (outcomes) => {
        if (this.durable) await this.durable();
        batch.forEach((p, i) => {
          const outcome = outcomes[i] as R | Error;
          if (outcome instanceof Error) p.reject(outcome);
          else p.resolve(outcome);
        });
      })
      .catch((err: unknown) => {
        for (const p of batch) p.reject(err);
      });
    this.answered = Promise.all([this.answered, answered]).then(() => undefined);
    return answered;
  }
}
