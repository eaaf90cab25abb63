import type { Logger } from 'pino';
import { PincerError, StageTimeoutError, errorMessage } from '../errors.js';
import type { Completion, JsonObject, MessageRecord, Reply } from '../queue/types.js';
import type { PipelineRegistry } from './registry.js';
import type { ResponderContext } from './types.js';

export interface ProcessOptions {
  signal: AbortSignal;
  log: Logger;
  onToken?: (delta: string) => void;
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
    const analysis: JsonObject = { ...message.analysis };
    const base = { message, analysis, log: options.log };

    for (const analyzer of [...this.registry.analyzers]) {
      const result = await this.stage(`analyzer ${analyzer.name}`, options.signal, analysis, (signal) =>
        analyzer.analyze({ ...base, signal }),
      );
      if (result !== undefined) analysis[analyzer.name] = result;
    }
    for (const hooks of [...this.registry.hooks]) {
      if (hooks.before) await this.stage(`before hook ${hooks.name}`, options.signal, analysis, (signal) => hooks.before?.({ ...base, signal }));
    }

    let reply: Reply | undefined;
    for (const responder of [...this.registry.responders]) {
      const answer = await this.stage(`responder ${responder.name}`, options.signal, analysis, (signal) => {
        const ctx: ResponderContext = { ...base, signal, stream: (delta) => options.onToken?.(delta) };
        return responder.respond(ctx);
      });
      if (answer) {
        reply = { ...answer, responder: answer.responder ?? responder.name };
        break;
      }
    }
    if (!reply) throw new StageError('responders', new Error('no responder answered this message'), analysis);

    for (const hooks of [...this.registry.hooks]) {
      const done = reply;
      if (hooks.after) await this.stage(`after hook ${hooks.name}`, options.signal, analysis, (signal) => hooks.after?.({ ...base, signal }, done));
    }
    return { analysis, reply };
  }

  private async stage<T>(name: string, outer: AbortSignal, analysis: JsonObject, run: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
    if (outer.aborted) throw new StageError(name, new Error('aborted: the worker is shutting down'), analysis);
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
