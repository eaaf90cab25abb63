import type { Logger } from 'pino';
import { PincerError, StageTimeoutError, errorMessage } from '../errors.js';
import type { AgentProgress } from '../events/types.js';
import type { Completion, JsonObject, MessageRecord, Reply } from '../store/types.js';
import type { PipelineRegistry, RegistrySnapshot } from './registry.js';
import type { ResponderContext, StageContext } from './types.js';

const COMMAND_PATTERN = /^\/([A-Za-z][\w-]*)(?:@\S+)?(?:\s+([\s\S]*))?$/;

export interface ProcessOptions {
  signal: AbortSignal;
  log: Logger;
  onToken?: (delta: string) => void;
  onProgress?: (event: AgentProgress) => void;
  /** The worker's lease on the message (responders fence their own writes with it). */
  lease?: number;
}

/** A stage failed; carries the analysis gathered so far so it is stored with the error. */
export class StageError extends PincerError {
  constructor(
    readonly stage: string,
    cause: unknown,
    readonly analysis: JsonObject,
  ) {
    super('PIPELINE_STAGE_FAILED', `${stage}: ${errorMessage(cause)}`);
  }
}

/**
 * Runs one message through analyzers -> before hooks -> first answering responder -> after
 * hooks. Every call gets its own time budget and abort signal; a stage that throws or times
 * out fails the message (the queue then retries or dead-letters it) and nothing else.
 */
export class Pipeline {
  constructor(
    private readonly registry: PipelineRegistry,
    private readonly stageTimeoutMs: number,
  ) {}

  async process(message: MessageRecord, options: ProcessOptions): Promise<Completion> {
    // The whole message runs on one snapshot: a plugin reloaded meanwhile does not change
    // what this message sees, and the old generation stays alive until the message is done.
    const snapshot = this.registry.snapshot();
    for (const owner of snapshot.owners) owner.acquire();
    try {
      return await this.run(message, snapshot, options);
    } finally {
      for (const owner of snapshot.owners) owner.release();
    }
  }

  private async run(message: MessageRecord, snapshot: RegistrySnapshot, options: ProcessOptions): Promise<Completion> {
    const analysis: JsonObject = { ...message.analysis };
    const base = { message, analysis, log: options.log };

    for (const analyzer of snapshot.analyzers) {
      const result = await this.stage(`analyzer ${analyzer.name}`, options.signal, analysis, (signal) =>
        analyzer.analyze({ ...base, signal }),
      );
      if (result !== undefined) analysis[analyzer.name] = result;
    }
    for (const hooks of snapshot.hooks) {
      if (hooks.before) await this.stage(`before hook ${hooks.name}`, options.signal, analysis, (signal) => hooks.before?.({ ...base, signal }));
    }

    let reply: Reply | undefined = await this.command(message, snapshot, base, options);
    for (const responder of reply ? [] : snapshot.responders) {
      const answer = await this.stage(`responder ${responder.name}`, options.signal, analysis, (signal) => {
        const ctx: ResponderContext = {
          ...base,
          signal,
          stream: (delta) => options.onToken?.(delta),
          progress: (event) => options.onProgress?.(event),
          ...(options.lease !== undefined && { lease: options.lease }),
        };
        return responder.respond(ctx);
      });
      if (answer) {
        reply = { ...answer, responder: answer.responder ?? responder.name };
        break;
      }
    }
    if (!reply) throw new StageError('responders', new Error('no responder answered this message'), analysis);

    for (const hooks of snapshot.hooks) {
      const done = reply;
      if (hooks.after) await this.stage(`after hook ${hooks.name}`, options.signal, analysis, (signal) => hooks.after?.({ ...base, signal }, done));
    }
    return { analysis, reply };
  }

  /** "/name args" is answered by the command of that name, before any responder. */
  private async command(message: MessageRecord, snapshot: RegistrySnapshot, base: Omit<StageContext, 'signal'>, options: ProcessOptions): Promise<Reply | undefined> {
    const match = COMMAND_PATTERN.exec(message.text.trim());
    if (!match) return undefined;
    const name = (match[1] as string).toLowerCase();
    const command = snapshot.commands.get(name);
    if (!command) return { text: `Unknown command /${name}. Send /help to see what I can do.`, responder: 'commands' };
    const result = await this.stage(`command /${name}`, options.signal, base.analysis as JsonObject, (signal) => command.run({ ...base, signal, args: (match[2] ?? '').trim() }));
    return typeof result === 'string' ? { text: result, responder: 'commands' } : { ...result, responder: result.responder ?? 'commands' };
  }

  private async stage<T>(name: string, outer: AbortSignal, analysis: JsonObject, run: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
    // The worker's reason (coded, e.g. WORKER_SHUTDOWN) travels on, so failure accounting can tell whose fault it was.
    if (outer.aborted) throw new StageError(name, outer.reason instanceof Error ? outer.reason : new PincerError('WORKER_SHUTDOWN', 'aborted: the worker is shutting down'), analysis);
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(outer.reason);
    outer.addEventListener('abort', onOuterAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new StageTimeoutError(name, this.stageTimeoutMs);
        controller.abort(err);
        reject(err);
      }, this.stageTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => run(controller.signal)), timeout]);
    } catch (err) {
      throw new StageError(name, err, analysis);
    } finally {
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuterAbort);
    }
  }
}
