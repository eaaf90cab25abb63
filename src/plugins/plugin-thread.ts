import { Worker } from 'node:worker_threads';
import { asErrorCode, PincerError, type ErrorCode } from '../errors.js';
import type { HostToThread, InvokeKind, RegistrationSpec, SerializedError, ThreadData, ThreadToHost } from './protocol.js';
import type { JsonObject, JsonValue } from './sdk.js';
import { threadEntry } from '../util/thread-entry.js';

/** The compiled thread entry (from dist/ when this module runs from source under vitest). */
const THREAD_ENTRY = threadEntry(new URL('./thread-entry.js', import.meta.url), 'dist/src/plugins/thread-entry.js');

/**
 * Plugins handle one small message at a time; V8's default young generation (sized for a
 * main thread) made each plugin thread hold several MB it never needed. Measured idle RSS with
 * the four bundled plugins: 218 MB by default, 193 MB with 4 MB, 188 MB with 2 MB.
 */
const YOUNG_GENERATION_MB = 4;

/** What the thread asks of the host (Pincer's API, other plugins' services). */
export type ThreadCall = Extract<ThreadToHost, { type: 'call' }>;

/** How a host call answers besides its result: parts of a stream, and when to stop. */
export interface HostCallIo {
  /** Aborted when the plugin no longer wants the answer, or its thread ends. */
  signal: AbortSignal;
  part(part: JsonValue): void;
}

export interface ThreadListener {
  register(handle: number, spec: RegistrationSpec): void;
  unregister(handle: number): void;
  call(call: ThreadCall, io: HostCallIo): Promise<JsonValue | undefined>;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: JsonObject): void;
  status(state: 'ok' | 'unavailable', detail?: string): void;
  /** The thread died without being asked to (process.exit, uncaught error, out of memory). */
  crashed(error: PincerError): void;
}

export interface InvokeOptions {
  signal?: AbortSignal;
  /** For calls outside the pipeline, which has its own stage timeout. */
  timeoutMs?: number;
  method?: string;
  onStream?: (delta: string) => void;
}

export class PluginCallError extends PincerError {
  /**
   * The code as the thread sent it. A plugin's own code (not Pincer's, so not catalogued) is
   * PLUGIN_CALL_FAILED to the host and over HTTP, and goes on unchanged to a plugin that called
   * this one's service.
   */
  readonly pluginCode: string;
  constructor(code: string, message: string, readonly remoteStack?: string) {
    const known = asErrorCode(code, 'PLUGIN_CALL_FAILED');
    super(known, message, known === code ? undefined : { pluginCode: code });
    this.pluginCode = code;
  }
}

function fromSerialized(plugin: string, error: SerializedError): PluginCallError {
  return new PluginCallError(error.code ?? 'PLUGIN_CALL_FAILED', `plugin ${plugin}: ${error.message}`, error.stack);
}

interface Pending {
  resolve(value: JsonValue | undefined): void;
  reject(err: Error): void;
  onStream?: ((delta: string) => void) | undefined;
}

/**
 * The transport to one generation's worker thread: RPCs with abort and timeout, lifecycle
 * messages, crash detection. Who still uses the generation is the Generation's business.
 */
export class PluginThread {
  readonly generation: number;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  /** Calls the thread made to the host that are still running, by the thread's call id. */
  private readonly hostCalls = new Map<number, AbortController>();
  private nextId = 1;
  private exited = false;
  private stopping = false;
  private lifecycle: { resolve: (msg: ThreadToHost) => void } | undefined;
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly plugin: string,
    generation: number,
    data: ThreadData,
    private readonly listener: ThreadListener,
    memoryLimitMb: number,
  ) {
    this.generation = generation;
    this.worker = new Worker(THREAD_ENTRY, {
      workerData: data,
      name: `plugin:${plugin}#${generation}`,
      resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.worker.on('message', (message: ThreadToHost) => this.onMessage(message));
    // 'error' precedes 'exit' for an uncaught exception; 'exit' alone covers process.exit().
    let lastError: Error | undefined;
    this.worker.on('error', (err) => {
      lastError = err;
    });
    this.exitPromise = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.exited = true;
        const reason = lastError ? `${lastError.name}: ${lastError.message}` : `exited with code ${code}`;
        const error = new PluginCallError('PLUGIN_CRASHED', `plugin ${plugin}: its thread ${this.stopping ? 'was stopped' : 'died'} (${reason})`);
        for (const call of this.pending.values()) call.reject(error);
        this.pending.clear();
        for (const call of this.hostCalls.values()) call.abort(error);
        this.hostCalls.clear();
        this.lifecycle?.resolve({ type: 'failed', stage: 'load', error: { name: 'Error', code: 'PLUGIN_CRASHED', message: error.message } });
        if (!this.stopping) listener.crashed(error);
        resolve();
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Wait for the module to load; resolves with the services it declares. */
  async load(timeoutMs: number): Promise<{ inject: string[] | undefined; provides: string[] | undefined }> {
    const msg = await this.nextLifecycle(timeoutMs, 'load');
    if (msg.type === 'loaded') return { inject: msg.inject, provides: msg.provides };
    throw this.lifecycleError(msg, 'PLUGIN_LOAD_FAILED');
  }

  /** Run the plugin's setup; its registrations arrive (through the listener) before this resolves. */
  async setup(timeoutMs: number): Promise<void> {
    const waiting = this.nextLifecycle(timeoutMs, 'setup');
    this.post({ type: 'setup' });
    const msg = await waiting;
    if (msg.type !== 'ready') throw this.lifecycleError(msg, 'PLUGIN_SETUP_FAILED');
  }

  invoke(handle: number, kind: InvokeKind, input: JsonValue, options: InvokeOptions = {}): Promise<JsonValue | undefined> {
    if (this.exited) return Promise.reject(new PluginCallError('PLUGIN_CRASHED', `plugin ${this.plugin}: its thread is not running`));
    const id = this.nextId++;
    return new Promise<JsonValue | undefined>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        this.pending.delete(id);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const abort = (reason: string, error: Error) => {
        if (!this.pending.has(id)) return;
        cleanup();
        this.post({ type: 'abort', id, reason });
        reject(error);
      };
      const onAbort = () => {
        const reason = options.signal?.reason;
        abort(reason instanceof Error ? reason.message : 'aborted', reason instanceof Error ? reason : new PluginCallError('PLUGIN_CALL_ABORTED', `plugin ${this.plugin}: call aborted`));
      };
      if (options.signal?.aborted) {
        const reason = options.signal.reason;
        return reject(reason instanceof Error ? reason : new PluginCallError('PLUGIN_CALL_ABORTED', `plugin ${this.plugin}: call aborted`));
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        timer = setTimeout(() => abort(`timed out after ${ms} ms`, new PluginCallError('PLUGIN_TIMEOUT', `plugin ${this.plugin}: ${kind} did not answer within ${ms} ms`)), ms);
      }
      this.pending.set(id, {
        resolve: (value) => {
          cleanup();
          resolve(value);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
        onStream: options.onStream,
      });
      this.post({ type: 'invoke', id, handle, kind, input, ...(options.method !== undefined ? { method: options.method } : {}) });
    });
  }

  /** Let the plugin dispose what it holds (bounded by `timeoutMs`), then end the thread. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    const disposed = this.nextLifecycle(timeoutMs, 'dispose').catch(() => undefined);
    this.post({ type: 'dispose' });
    await disposed;
    await this.worker.terminate();
    await this.exitPromise;
  }

  private post(message: HostToThread): void {
    if (!this.exited) this.worker.postMessage(message);
  }

  private nextLifecycle(timeoutMs: number, what: string): Promise<ThreadToHost> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new PluginCallError('PLUGIN_CRASHED', `plugin ${this.plugin}: its thread is not running`));
      const timer = setTimeout(() => {
        this.lifecycle = undefined;
        reject(new PluginCallError('PLUGIN_TIMEOUT', `plugin ${this.plugin}: ${what} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      this.lifecycle = {
        resolve: (msg) => {
          clearTimeout(timer);
          this.lifecycle = undefined;
          resolve(msg);
        },
      };
    });
  }

  private lifecycleError(msg: ThreadToHost, code: ErrorCode): PluginCallError {
    if (msg.type === 'failed') {
      const error = msg.error;
      const kind = error.name && error.name !== 'Error' && error.name !== 'RemoteError' ? `${error.name}: ` : '';
      return new PluginCallError(error.code && error.code !== 'ERR_UNKNOWN' ? error.code : code, `plugin ${this.plugin}: ${msg.stage} failed: ${kind}${error.message}`, error.stack);
    }
    return new PluginCallError(code, `plugin ${this.plugin}: unexpected ${msg.type} message`);
  }

  private answer(message: ThreadCall): void {
    const controller = new AbortController();
    this.hostCalls.set(message.id, controller);
    const io: HostCallIo = { signal: controller.signal, part: (part) => !controller.signal.aborted && this.post({ type: 'call-part', id: message.id, part }) };
    const settle = (reply: HostToThread) => {
      this.hostCalls.delete(message.id);
      if (!controller.signal.aborted) this.post(reply);
    };
    this.listener.call(message, io).then(
      (value) => settle({ type: 'reply', id: message.id, ok: true, value }),
      (err: unknown) =>
        settle({
          type: 'reply',
          id: message.id,
          ok: false,
          error: { name: 'Error', message: err instanceof Error ? err.message : String(err), ...(err instanceof PincerError ? { code: err instanceof PluginCallError ? err.pluginCode : err.code, status: err.statusCode } : {}) },
        }),
    );
  }

  private onMessage(message: ThreadToHost): void {
    switch (message.type) {
      case 'loaded':
      case 'ready':
      case 'failed':
      case 'disposed':
        this.lifecycle?.resolve(message);
        break;
      case 'register':
        this.listener.register(message.handle, message.spec);
        break;
      case 'unregister':
        this.listener.unregister(message.handle);
        break;
      case 'result': {
        const call = this.pending.get(message.id);
        if (!call) break;
        if (message.ok) call.resolve(message.value);
        else call.reject(fromSerialized(this.plugin, message.error));
        break;
      }
      case 'stream':
        this.pending.get(message.id)?.onStream?.(message.delta);
        break;
      case 'call':
        this.answer(message);
        break;
      case 'call-abort':
        this.hostCalls.get(message.id)?.abort(new PluginCallError('PLUGIN_CALL_ABORTED', `plugin ${this.plugin}: the plugin cancelled its call`));
        break;
      case 'log':
        this.listener.log(message.level, message.msg, message.fields);
        break;
      case 'status':
        this.listener.status(message.state, message.detail);
        break;
    }
  }
}
