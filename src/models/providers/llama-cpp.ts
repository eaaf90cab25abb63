import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type * as NodeLlamaCppModule from 'node-llama-cpp';
import type { ChatHistoryItem, Llama, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { PincerError, errorMessage } from '../../errors.js';
import { ModelError } from '../errors.js';
import type { ChatMessage, EmbedRequest, EmbedResult, EmbeddingModel, GenerateRequest, GenerateResult, LanguageModel, StreamPart } from '../types.js';

/** The module's shape; imported lazily so Pincer runs (and compiles for users) without it. */
type NodeLlamaCpp = typeof NodeLlamaCppModule;

export interface LlamaCppModelOptions {
  /** A `.gguf` file. */
  path: string;
  /** The setting the path came from, named in errors: `MODEL_PATH` or `models.default[0].path`. */
  setting?: string;
  /**
   * Tokens each conversation may hold (prompt and reply). Default: 4096, or less if the model was
   * trained on less. Memory grows with it times `parallel`.
   */
  contextSize?: number;
  /** Generations run side by side (sequences of the one context); more wait their turn. Default 2. */
  parallel?: number;
  /** CPU threads; default `os.availableParallelism()`. */
  threads?: number;
  /** Sampling temperature when the request names none. Default 0.8 (node-llama-cpp's suggestion). */
  defaultTemperature?: number;
  /** llama.cpp's own warnings and errors (it is silent otherwise). */
  onLog?: (level: string, message: string) => void;
  /** How node-llama-cpp is loaded; tests replace it to see the missing-package error. */
  importModule?: () => Promise<NodeLlamaCpp>;
}

interface Loaded {
  module: NodeLlamaCpp;
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  /** Tokens per sequence (and of the embedding context). */
  contextSize: number;
}

type Outcome = { ok: true; value: Omit<GenerateResult, 'text'> } | { ok: false; error: unknown };

const PROVIDER = 'llama-cpp';
const DEFAULT_CONTEXT_SIZE = 4096;

/**
 * A local GGUF model run in-process by llama.cpp through node-llama-cpp (an optional
 * dependency: `npm install node-llama-cpp`). CPU only: no GPU probing, no building from
 * source, no downloads.
 *
 * Concurrency: one context holds `parallel` sequences (each with its own `contextSize` of KV
 * cache). A call borrows a free sequence and returns it when done; calls beyond `parallel`
 * wait in FIFO order. Sequences of one context are decoded in the same batches, so two
 * generations cost little more than one, and a sequence keeps its tokens between calls, so a
 * conversation's shared prefix (system prompt, earlier turns) is not evaluated again.
 *
 * Tools are not supported: `request.tools` is ignored (the model answers in text), and tool
 * messages in the history are given to the model as user text.
 */
export class LlamaCppModel implements LanguageModel, EmbeddingModel {
  readonly id: string;
  readonly provider = PROVIDER;
  /** CPU threads llama.cpp uses: one per core. Its default oversubscribes small machines badly. */
  readonly threads: number;
  readonly path: string;
  private readonly setting: string;
  private readonly parallel: number;
  private loading: Promise<Loaded> | undefined;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  /** Embedding calls one at a time: the embedding context has a single sequence. */
  private embedQueue: Promise<unknown> = Promise.resolve();
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: Array<{ resolve: (s: LlamaContextSequence) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  constructor(private readonly options: LlamaCppModelOptions) {
    this.setting = options.setting ?? 'MODEL_PATH';
    this.path = path.resolve(options.path);
    this.id = `${PROVIDER}/${path.basename(options.path)}`;
    this.threads = options.threads ?? availableParallelism();
    this.parallel = Math.max(1, options.parallel ?? 2);
    checkModelPath(options.path, this.setting);
  }

  /** Loads the weights and creates the context; later calls (and concurrent first calls) share the one load. */
  async warmUp(signal: AbortSignal): Promise<void> {
    await this.load(signal);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const deltas: string[] = [];
    const result = await this.generate(request, (delta) => deltas.push(delta));
    return { text: deltas.join(''), ...result };
  }

  /** Text deltas as llama.cpp produces them, then one `finish`. Leaving the loop early stops the generation. */
  async *doStream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const stop = new AbortController();
    const signal = request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal;
    const pending: string[] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    let outcome: Outcome | undefined;
    const running = this.generate({ ...request, signal }, (delta) => {
      pending.push(delta);
      wake?.();
    }).then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    ).finally(() => {
      settled = true;
      wake?.();
    });
    try {
      for (;;) {
        while (pending.length > 0) yield { type: 'text-delta', delta: pending.shift() as string };
        if (settled) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      const ended = outcome as Outcome | undefined;
      if (!ended) throw new ModelError('server', PROVIDER, 'generation ended without a result');
      if (!ended.ok) throw ended.error;
      yield { type: 'finish', ...ended.value };
    } finally {
      // The consumer stopped early (break, return, error): free the sequence before leaving.
      if (!settled) {
        stop.abort();
        await running;
      }
    }
  }

  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    const { model, contextSize } = await this.load(request.signal);
    const context = await this.embeddingContext(request.signal);
    const run = async (): Promise<EmbedResult> => {
      const embeddings: number[][] = [];
      let inputTokens = 0;
      for (const value of request.values) {
        if (request.signal?.aborted) throw aborted();
        const tokens = model.tokenize(value);
        // llama.cpp would fail on it mid-batch; say which input is too long.
        if (tokens.length > contextSize) {
          throw new ModelError('context_length', PROVIDER, `an input of ${tokens.length} tokens exceeds the embedding context of ${contextSize} tokens`);
        }
        inputTokens += tokens.length;
        try {
          embeddings.push([...(await context.getEmbeddingFor(tokens)).vector]);
        } catch (err) {
          throw toModelError(err, request.signal);
        }
      }
      return { embeddings, usage: { inputTokens } };
    };
    const result = this.embedQueue.then(run, run);
    this.embedQueue = result.catch(() => undefined);
    return result;
  }

  /** Frees the contexts, the weights and llama.cpp itself; calls waiting for a sequence fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(closedError());
    this.free.length = 0;
    const loaded = await this.loading?.catch(() => undefined);
    if (!loaded) return;
    const embedding = await this.embedding?.catch(() => undefined);
    await embedding?.dispose();
    await loaded.context.dispose();
    await loaded.model.dispose();
    await loaded.llama.dispose();
  }

  private async generate(request: GenerateRequest, onText: (delta: string) => void): Promise<Omit<GenerateResult, 'text'>> {
    const { module, model } = await this.load(request.signal);
    const sequence = await this.acquire(request.signal);
    const chat = new module.LlamaChat({ contextSequence: sequence, autoDisposeSequence: false });
    try {
      const history = toChatHistory(request.messages);
      // The prompt exactly as the chat wrapper lays it out: its tokens are the input usage.
      const inputTokens = chat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer).length;
      // Past the context, LlamaChat would silently drop the oldest turns ("context shift"); a
      // prompt that does not fit is an error the router can act on, and the reply is bounded
      // by the room left (one cell spare), so no shift happens while generating either.
      const room = sequence.contextSize - inputTokens - 1;
      if (room < 1) {
        throw new ModelError('context_length', PROVIDER, `the prompt has ${inputTokens} tokens; the context holds ${sequence.contextSize}`);
      }
      // At least one token: node-llama-cpp reads 0 as "no limit".
      const maxTokens = Math.max(1, Math.min(request.maxTokens ?? room, room));
      let outputTokens = 0;
      const response = await chat.generateResponse(history, {
        maxTokens,
        temperature: request.temperature ?? this.options.defaultTemperature ?? 0.8,
        ...(request.signal ? { signal: request.signal } : {}),
        onToken: (tokens) => (outputTokens += tokens.length),
        onTextChunk: (text) => {
          if (text) onText(text);
        },
      });
      const stopReason = response.metadata.stopReason;
      if (stopReason === 'abort') throw aborted();
      return { finishReason: stopReason === 'maxTokens' ? 'length' : 'stop', usage: { inputTokens, outputTokens } };
    } catch (err) {
      throw toModelError(err, request.signal);
    } finally {
      chat.dispose({ disposeSequence: false });
      this.release(sequence);
    }
  }

  private load(signal: AbortSignal | undefined): Promise<Loaded> {
    if (this.closed) return Promise.reject(closedError());
    this.loading ??= this.loadOnce();
    // The load goes on when one caller gives up: the next caller, or warm-up, still wants it.
    return signal ? abortable(this.loading, signal) : this.loading;
  }

  private async loadOnce(): Promise<Loaded> {
    const module = await importNodeLlamaCpp(this.setting, this.options.importModule);
    const fail = (err: unknown): PincerError => new PincerError('MODEL_CONFIG_INVALID', `${this.setting}=${this.options.path}: ${errorMessage(err)}`);
    let llama: Llama;
    try {
      llama = await module.getLlama({
        gpu: false,
        build: 'never',
        skipDownload: true,
        progressLogs: false,
        maxThreads: this.threads,
        logLevel: module.LlamaLogLevel.warn,
        logger: (level, message) => this.options.onLog?.(level, message.trimEnd()),
      });
    } catch (err) {
      throw fail(err);
    }
    let model: LlamaModel | undefined;
    try {
      model = await llama.loadModel({ modelPath: this.path });
      const contextSize = Math.min(this.options.contextSize ?? DEFAULT_CONTEXT_SIZE, model.trainContextSize);
      const context = await model.createContext({ contextSize, sequences: this.parallel, threads: this.threads });
      for (let i = 0; i < this.parallel; i++) this.free.push(context.getSequence());
      if (this.closed) throw new Error('the model was closed while loading');
      return { module, llama, model, context, contextSize };
    } catch (err) {
      await model?.dispose().catch(() => undefined);
      await llama.dispose().catch(() => undefined);
      throw fail(err);
    }
  }

  private async embeddingContext(signal: AbortSignal | undefined): Promise<LlamaEmbeddingContext> {
    const { model, contextSize } = await this.load(signal);
    this.embedding ??= model.createEmbeddingContext({ contextSize, threads: this.threads });
    return signal ? abortable(this.embedding, signal) : this.embedding;
  }

  private acquire(signal: AbortSignal | undefined): Promise<LlamaContextSequence> {
    if (this.closed) return Promise.reject(closedError());
    const sequence = this.free.pop();
    if (sequence) return Promise.resolve(sequence);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (s: LlamaContextSequence) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(aborted());
      };
      if (signal?.aborted) return reject(aborted());
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private release(sequence: LlamaContextSequence): void {
    if (this.closed) return;
    const next = this.waiting.shift();
    if (next) next.resolve(sequence);
    else this.free.push(sequence);
  }
}

export function createLlamaCppModel(options: LlamaCppModelOptions): LlamaCppModel {
  return new LlamaCppModel(options);
}

/**
 * A configuration mistake, found at start: the path must name an existing `.gguf` file whose
 * header is whole. The header check is not pedantry: node-llama-cpp 3.22 never settles
 * `loadModel()` for a file that is not GGUF or whose header is cut short (its reader waits
 * for bytes past the end), which would hang warm-up instead of failing it.
 */
export function checkModelPath(file: string, setting = 'MODEL_PATH'): void {
  const problem = (why: string): PincerError => new PincerError('MODEL_CONFIG_INVALID', `${setting}=${file}: ${why}`);
  if (!file.toLowerCase().endsWith('.gguf')) throw problem('expected a .gguf file (llama.cpp\'s model format)');
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw problem('no such file');
  }
  if (!isFile) throw problem('not a file');
  const why = checkGgufHeader(file);
  if (why) throw problem(`not a usable GGUF file: ${why}`);
}

/** GGUF metadata value types whose size is fixed (gguf.md), by type id. */
const GGUF_FIXED_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const GGUF_STRING = 8;
const GGUF_ARRAY = 9;

/**
 * Walks the header (metadata and tensor infos) with bounds checks, reading only the header.
 * Returns what is wrong, or undefined. Layout: "GGUF", u32 version, u64 tensor count, u64
 * metadata count, the key/value pairs, the tensor infos; then the aligned tensor data.
 */
function checkGgufHeader(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let pos = 0;
    // Read in 1 MB chunks: a real model's header (its vocabulary) is megabytes of small fields.
    let chunk = Buffer.alloc(0);
    let chunkStart = 0;
    const read = (n: number): Buffer => {
      if (pos + n > size) throw new Error(`the header is cut short at byte ${size}`);
      if (pos < chunkStart || pos + n > chunkStart + chunk.length) {
        chunk = Buffer.alloc(Math.min(Math.max(n, 1 << 20), size - pos));
        chunkStart = pos;
        readSync(fd, chunk, 0, chunk.length, pos);
      }
      const out = chunk.subarray(pos - chunkStart, pos - chunkStart + n);
      pos += n;
      return out;
    };
    const u32 = (): number => read(4).readUInt32LE();
    const u64 = (): number => Number(read(8).readBigUInt64LE());
    const skip = (n: number): void => {
      if (pos + n > size) throw new Error(`the header is cut short at byte ${size}`);
      pos += n;
    };
    const string = (): Buffer => read(u64());
    const skipValue = (type: number): void => {
      const fixed = GGUF_FIXED_SIZES[type];
      if (fixed !== undefined) return skip(fixed);
      if (type === GGUF_STRING) return skip(u64());
      if (type !== GGUF_ARRAY) throw new Error(`unknown metadata value type ${type}`);
      const itemType = u32();
      const count = u64();
      const itemSize = GGUF_FIXED_SIZES[itemType];
      if (itemSize !== undefined) return skip(count * itemSize);
      for (let i = 0; i < count; i++) skipValue(itemType);
    };
    try {
      if (size < 24) return `${size} bytes are too few for a GGUF header`;
      if (read(4).toString('latin1') !== 'GGUF') return 'it does not start with "GGUF"';
      const version = u32();
      if (version !== 2 && version !== 3) return `GGUF version ${version} is not supported (2 or 3)`;
      const tensors = u64();
      const entries = u64();
      let architecture: string | undefined;
      for (let i = 0; i < entries; i++) {
        const key = string().toString('utf8');
        const type = u32();
        if (key === 'general.architecture' && type === GGUF_STRING) architecture = string().toString('utf8');
        else skipValue(type);
      }
      if (!architecture) return 'it has no general.architecture';
      if (tensors === 0) return 'it holds no tensors';
      for (let i = 0; i < tensors; i++) {
        string();
        const dims = u32();
        if (dims > 8) return `tensor ${i} has ${dims} dimensions`;
        skip(dims * 8 + 4);
        const offset = u64();
        if (pos + offset > size) return 'the tensor data is cut short';
      }
      return undefined;
    } catch (err) {
      return errorMessage(err);
    }
  } finally {
    closeSync(fd);
  }
}

async function importNodeLlamaCpp(setting: string, importModule?: () => Promise<NodeLlamaCpp>): Promise<NodeLlamaCpp> {
  try {
    return await (importModule ?? (() => import('node-llama-cpp')))();
  } catch (err) {
    const missing = (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    throw new PincerError(
      'MODEL_CONFIG_INVALID',
      missing
        ? `${setting}: running a GGUF file needs the optional package node-llama-cpp, which is not installed: run \`npm install node-llama-cpp\` in the bot's folder`
        : `${setting}: node-llama-cpp could not be loaded: ${errorMessage(err)}`,
    );
  }
}

/**
 * Pincer's messages in node-llama-cpp's history: the chat wrapper (the GGUF's own template, or
 * node-llama-cpp's best guess when it has none) renders them. Consecutive user texts are
 * joined, since wrappers expect turns to alternate. The history ends with an empty model turn:
 * the one to generate.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    const last = history.at(-1);
    switch (m.role) {
      case 'system':
        history.push({ type: 'system', text: m.content });
        break;
      case 'assistant':
        // A turn that only asked for tools has no text; nothing of it is usable without tools.
        if (m.content) history.push({ type: 'model', response: [m.content] });
        break;
      case 'user':
      case 'tool': {
        const text = m.role === 'tool' ? `Result of ${m.toolName ?? 'a tool'}: ${m.content}` : m.content;
        if (last?.type === 'user') last.text += `\n\n${text}`;
        else history.push({ type: 'user', text });
        break;
      }
    }
  }
  history.push({ type: 'model', response: [] });
  return history;
}

const closedError = (): ModelError => new ModelError('server', PROVIDER, 'the model was closed');
const aborted = (): ModelError => new ModelError('aborted', PROVIDER, 'the request was aborted');

function toModelError(err: unknown, signal: AbortSignal | undefined): Error {
  if (err instanceof ModelError) return err;
  if (signal?.aborted) return aborted();
  if (err instanceof PincerError) return err;
  const message = errorMessage(err);
  if (/context (size|length)|too long|exceeds/i.test(message)) return new ModelError('context_length', PROVIDER, message);
  return new ModelError('server', PROVIDER, message);
}

/** `promise`, or a rejection as soon as `signal` aborts (the work itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
