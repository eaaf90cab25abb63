import { availableParallelism } from 'node:os';
import path from 'node:path';
import type * as NodeLlamaCppModule from 'node-llama-cpp';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { PincerError, errorMessage } from '../../../errors.js';
import { pushIterator } from '../../../util/push-iterator.js';
import { Serial } from '../../../util/serial.js';
import { SlotPool } from '../../../util/slot-pool.js';
import { ModelError } from '../../errors.js';
import type { EmbedRequest, EmbedResult, EmbeddingModel, GenerateRequest, GenerateResult, LanguageModel, StreamPart } from '../../types.js';
import { unsupportedSettings, withWarnings } from '../../warnings.js';
import { toChatHistory } from './chat-history.js';
import { checkModelPath } from './gguf-header.js';

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
 * Tools are not supported: the model answers in text, with an `unsupported-setting` warning
 * when a request offers tools, and tool messages in the history are given to it as user text.
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
  private readonly embedQueue = new Serial();
  /** The context's sequences, lent one per generation; filled once the model has loaded. */
  private readonly sequences = new SlotPool<LlamaContextSequence>([], { aborted: () => aborted() });
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

  /** Text deltas as llama.cpp produces them, then one `finish`. Leaving the loop early stops the generation and frees its sequence. */
  doStream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    return pushIterator<StreamPart>(async (push, stop) => {
      const signal = request.signal ? AbortSignal.any([request.signal, stop]) : stop;
      const result = await this.generate({ ...request, signal }, (delta) => push({ type: 'text-delta', delta }));
      push({ type: 'finish', ...result });
    });
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
    return this.embedQueue.run(run);
  }

  /** Frees the contexts, the weights and llama.cpp itself; calls waiting for a sequence fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sequences.close(closedError());
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
    const slot = await this.sequences.acquire(request.signal);
    const sequence = slot.value;
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
      return { finishReason: stopReason === 'maxTokens' ? 'length' : 'stop', usage: { inputTokens, outputTokens }, ...withWarnings(settingWarnings(request)) };
    } catch (err) {
      throw toModelError(err, request.signal);
    } finally {
      chat.dispose({ disposeSequence: false });
      slot.release();
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
      if (this.closed) throw new Error('the model was closed while loading');
      for (let i = 0; i < this.parallel; i++) this.sequences.add(context.getSequence());
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
}

export function createLlamaCppModel(options: LlamaCppModelOptions): LlamaCppModel {
  return new LlamaCppModel(options);
}

const NO_TOOLS = 'llama-cpp runs the model for text only; it answered without tools';

function settingWarnings(request: GenerateRequest) {
  return unsupportedSettings(request, { tools: NO_TOOLS, toolChoice: NO_TOOLS });
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
