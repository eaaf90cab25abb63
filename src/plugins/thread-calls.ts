/**
 * The plugin thread's side of calls to the host: Pincer's own API (the method table in
 * host-api.ts) and other plugins' services. A call made while a handler runs is tied to that
 * handler's signal through AsyncLocalStorage, so when the host aborts the handler (its time
 * budget, shutdown), the model call or stream it started stops too.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ChannelHostMethod, HostMethod, ThreadToHost } from './protocol.js';
import type { JsonValue } from './sdk.js';

export class RemoteError extends Error {
  constructor(
    readonly code: string | undefined,
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

type Target = { target: 'pincer'; method: HostMethod } | { target: 'service'; service: string; method: string } | { target: 'channel'; method: ChannelHostMethod };

interface Pending {
  resolve(value: JsonValue | undefined): void;
  reject(err: Error): void;
  part?: (part: JsonValue) => void;
}

export class HostCalls {
  private readonly pending = new Map<number, Pending>();
  private readonly invocation = new AsyncLocalStorage<AbortSignal>();
  private nextId = 1;

  constructor(private readonly send: (message: ThreadToHost) => void) {}

  /** Run a handler so that host calls it makes stop when `signal` aborts. */
  within<T>(signal: AbortSignal, run: () => T): T {
    return this.invocation.run(signal, run);
  }

  call(target: Target, args: JsonValue[], signal?: AbortSignal, part?: (part: JsonValue) => void): Promise<JsonValue | undefined> {
    const signals = [signal, this.invocation.getStore()].filter((s): s is AbortSignal => s !== undefined);
    const stop = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    if (stop?.aborted) return Promise.reject(abortError(stop));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.send({ type: 'call-abort', id });
        reject(abortError(stop as AbortSignal));
      };
      const settle = () => stop?.removeEventListener('abort', onAbort);
      stop?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
        ...(part ? { part } : {}),
      });
      this.send({ type: 'call', id, ...target, args });
    });
  }

  /** A streamed host call: its parts as they arrive, then the final reply as the last part. */
  async *stream(method: HostMethod, args: JsonValue[], signal?: AbortSignal): AsyncGenerator<JsonValue> {
    const local = new AbortController();
    const parts: JsonValue[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: Error | undefined;
    const settled = this.call({ target: 'pincer', method }, args, signal ? AbortSignal.any([signal, local.signal]) : local.signal, (part) => {
      parts.push(part);
      wake?.();
    }).then(
      (last) => {
        if (last !== undefined) parts.push(last);
        finished = true;
        wake?.();
      },
      (err: Error) => {
        failure = err;
        finished = true;
        wake?.();
      },
    );
    try {
      for (;;) {
        const next = parts.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      // A consumer that stops reading early (break, return) cancels the call on the host.
      if (!finished) local.abort(new RemoteError('PLUGIN_CALL_ABORTED', 'the stream was closed before it finished'));
      await settled;
    }
  }

  onPart(id: number, part: JsonValue): void {
    this.pending.get(id)?.part?.(part);
  }

  onReply(id: number, outcome: { ok: true; value: JsonValue | undefined } | { ok: false; code?: string; message: string; status?: number }): void {
    const call = this.pending.get(id);
    this.pending.delete(id);
    if (!call) return;
    if (outcome.ok) call.resolve(outcome.value);
    else call.reject(new RemoteError(outcome.code, outcome.message, outcome.status));
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new RemoteError('PLUGIN_CALL_ABORTED', 'the call was aborted');
}
