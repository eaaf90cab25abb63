import type { Logger } from 'pino';
import { errorMessage, PincerError } from './errors.js';

type Awaitable<T> = T | Promise<T>;

/** One named part of a running Pincer: how it starts, stops, and says whether it is ready. */
export interface Part {
  readonly name: string;
  start?(): Awaitable<void>;
  stop?(): Awaitable<void>;
  /** 'ok', or why the part cannot serve (shown by /ready under the part's name). */
  ready?(): Awaitable<string>;
}

/**
 * The avvio idea in small: parts start in the order they were added and stop in reverse, each
 * stop's failure logged by name without keeping the others from stopping; a part that fails
 * to start stops every part started before it. Readiness is the parts' own answers.
 */
export class Lifecycle {
  private readonly parts: Part[] = [];
  private readonly started = new Set<Part>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** Add a part; one added after `start` has run starts at the next `start` call. */
  add(part: Part): void {
    this.parts.push(part);
  }

  /** Start every part not yet started, in order. */
  async start(): Promise<void> {
    for (const part of this.parts) {
      if (this.started.has(part)) continue;
      if (this.stopping) throw new PincerError('SERVER_CLOSING', `Pincer was stopped before ${part.name} started`);
      try {
        await part.start?.();
      } catch (err) {
        this.log.error({ err, part: part.name }, `${part.name} failed to start`);
        await this.stop();
        throw err;
      }
      this.started.add(part);
      // A stop that came while this part was starting skipped it: stop it now, and do not go on.
      if (this.stopping) {
        await this.stopPart(part);
        throw new PincerError('SERVER_CLOSING', `Pincer was stopped while ${part.name} was starting`);
      }
    }
  }

  /** Stop every started part, newest first. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        if (!this.started.has(part) && part.start) continue;
        await this.stopPart(part);
      }
    })();
    return this.stopping;
  }

  private async stopPart(part: Part): Promise<void> {
    this.started.delete(part);
    try {
      await part.stop?.();
    } catch (err) {
      this.log.error({ err, part: part.name }, `error while stopping ${part.name}`);
    }
  }

  /** Each part's readiness by name; a part that has not started says so. */
  async readiness(): Promise<Record<string, string>> {
    const checks: Record<string, string> = {};
    for (const part of this.parts) {
      if (!part.ready) continue;
      if (part.start && !this.started.has(part)) {
        checks[part.name] = 'not started';
        continue;
      }
      try {
        checks[part.name] = await part.ready();
      } catch (err) {
        checks[part.name] = errorMessage(err);
      }
    }
    return checks;
  }
}
