import { closeSync, fdatasync, openSync } from 'node:fs';

/**
 * Makes writes to one file durable without blocking the event loop: `sync()` resolves once an
 * fdatasync (run on libuv's thread pool) covers every write noted so far with `noteWrite()`.
 * With nothing new written it resolves at once; calls made while a sync is running share the
 * next one, so any number of commits cost at most two syncs in flight. After a failed sync the
 * file's state is unknown, so every later call fails too.
 */
export class FileSyncer {
  private readonly fd: number;
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private failure: Error | undefined;
  private syncs = 0;
  /** Writes noted, and how many of them the last successful sync covered. */
  private written = 0;
  private durable = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'r+');
  }

  /** Record that the file was written (a commit); the next sync() must cover it. */
  noteWrite(): void {
    this.written++;
  }

  /** fdatasyncs issued so far. */
  get count(): number {
    return this.syncs;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.durable === this.written) return Promise.resolve();
    if (this.waiting) return this.waiting;
    if (this.running) {
      this.waiting = this.running.then(
        () => this.launchNext(),
        () => this.launchNext(),
      );
      return this.waiting;
    }
    return this.launch();
  }

  close(): void {
    closeSync(this.fd);
  }

  private launchNext(): Promise<void> {
    this.waiting = undefined;
    return this.failure ? Promise.reject(this.failure) : this.launch();
  }

  private launch(): Promise<void> {
    const covers = this.written;
    const done = new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (err) => {
        this.syncs++;
        if (err) {
          this.failure = new Error(`fdatasync of ${this.file} failed (${err.code ?? err.message}); the store can no longer promise durability`);
          reject(this.failure);
        } else {
          this.durable = Math.max(this.durable, covers);
          resolve();
        }
      });
    });
    const tracked = done.finally(() => {
      if (this.running === tracked) this.running = undefined;
    });
    this.running = tracked;
    return tracked;
  }
}
