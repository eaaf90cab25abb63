import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { ndjsonLines } from './stream-parsers.js';

export interface OllamaModelOptions extends Partial<HttpOptions> {
  model: string;
  /** A local Ollama needs none; Ollama's cloud and authenticating proxies take a bearer token. */
  apiKey?: string;
  /** How long the server keeps the model loaded after a call, e.g. `10m` (Ollama's default 5m). */
  keepAlive?: string;
  headers?: Record<string, string>;
}

export const OLLAMA_BASE_URL = 'http://127.0.0.1:11434';

const ChatSchema = z.object({
  message: z.object({ content: z.string().nullish() }).nullish(),
  done: z.boolean().optional(),
  done_reason: z.string().nullish(),
  prompt_eval_count: z.number().nullish(),
  eval_count: z.number().nullish(),
  // A failure after the 200 (the model crashed mid-reply) arrives as a line of its own.
  error: z.unknown().optional(),
});
type ChatLine = z.infer<typeof ChatSchema>;

/** Ollama's native chat API (/api/chat), which streams NDJSON rather than SSE. */
export class OllamaModel implements LanguageModel {
  readonly id: string;
  readonly provider = 'ollama';
  private readonly http: VendorHttp;

  constructor(private readonly options: OllamaModelOptions) {
    this.id = `ollama/${options.model}`;
    this.http = new VendorHttp(this.provider, { ...options, baseUrl: options.baseUrl ?? OLLAMA_BASE_URL }, readOllamaError);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const body = await this.http.send('POST', '/api/chat', this.headers(), this.body(request, false), request.signal);
    const reply = await this.http.readJson(body, ChatSchema, request.signal);
    if (reply.error !== undefined) throw new ModelError('bad_response', this.provider, `the response reported an error: ${JSON.stringify(reply.error)}`);
    if (reply.done !== true) throw new ModelError('bad_response', this.provider, 'the response is not marked done');
    return { text: reply.message?.content ?? '', ...finishOf(reply) };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', '/api/chat', this.headers(), this.body(request, true), request.signal);
    for await (const line of ndjsonLines(body)) {
      const chunk = this.http.parse(line, ChatSchema, 'stream line');
      if (chunk.error !== undefined) throw new ModelError('bad_response', this.provider, `the stream reported an error: ${JSON.stringify(chunk.error)}`);
      if (chunk.message?.content) yield { type: 'text-delta', delta: chunk.message.content };
      if (chunk.done === true) {
        yield { type: 'finish', ...finishOf(chunk) };
        return;
      }
    }
    throw new ModelError('bad_response', this.provider, 'the stream ended before its done line');
  }

  private headers(): Record<string, string> {
    return { ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}), ...this.options.headers };
  }

  private body(request: GenerateRequest, stream: boolean): Record<string, unknown> {
    const options = {
      ...(request.maxTokens !== undefined && { num_predict: request.maxTokens }),
      ...(request.temperature !== undefined && { temperature: request.temperature }),
    };
    return {
      model: this.options.model,
      messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
      // Explicit both ways: /api/chat streams unless told not to.
      stream,
      ...(Object.keys(options).length > 0 && { options }),
      ...(this.options.keepAlive !== undefined && { keep_alive: this.options.keepAlive }),
    };
  }
}

export function createOllamaModel(options: OllamaModelOptions): OllamaModel {
  return new OllamaModel(options);
}

function finishOf(line: ChatLine): { finishReason: FinishReason; usage: { inputTokens: number; outputTokens: number } } {
  // done_reason is `stop`, `length`, or `load`/`unload` for calls that only (un)loaded the model.
  const finishReason: FinishReason = line.done_reason === 'length' ? 'length' : 'stop';
  return { finishReason, usage: { inputTokens: line.prompt_eval_count ?? 0, outputTokens: line.eval_count ?? 0 } };
}

const ErrorBodySchema = z.object({ error: z.string() });

/** Ollama's errors are `{"error": "..."}`; a prompt over the context length says so in words. */
export function readOllamaError(_status: number, body: unknown, text: string): VendorErrorInfo {
  const parsed = ErrorBodySchema.safeParse(body);
  const message = parsed.success ? parsed.data.error : text;
  return { message, contextLength: /context (length|window|size)/i.test(message) };
}
