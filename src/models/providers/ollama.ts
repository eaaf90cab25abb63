import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { ChatMessage, EmbeddingModel, EmbedRequest, EmbedResult, FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart, ToolCall } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { ndjsonLines } from './stream-parsers.js';
import { argumentsObject, newToolCallId, toolNameOf } from './tools.js';
import { unsupportedSettings, withWarnings } from '../warnings.js';

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
  message: z
    .object({
      content: z.string().nullish(),
      tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()).nullish() }) })).nullish(),
    })
    .nullish(),
  done: z.boolean().optional(),
  done_reason: z.string().nullish(),
  prompt_eval_count: z.number().nullish(),
  eval_count: z.number().nullish(),
  // A failure after the 200 (the model crashed mid-reply) arrives as a line of its own.
  error: z.unknown().optional(),
});
type ChatLine = z.infer<typeof ChatSchema>;

const EmbedSchema = z.object({ embeddings: z.array(z.array(z.number())), prompt_eval_count: z.number().nullish() });

/** Ollama's native chat API (/api/chat), which streams NDJSON rather than SSE. */
export class OllamaModel implements LanguageModel, EmbeddingModel {
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
    if (reply.error !== undefined) throw new ModelError('server', this.provider, `the response reported an error: ${JSON.stringify(reply.error)}`);
    if (reply.done !== true) throw new ModelError('bad_response', this.provider, 'the response is not marked done');
    const toolCalls = toolCallsOf(reply);
    return { text: reply.message?.content ?? '', ...(toolCalls.length > 0 && { toolCalls }), ...finishOf(reply, toolCalls.length > 0), ...withWarnings(settingWarnings(request)) };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  /** /api/embed, for embedding models (nomic-embed-text and kin); it takes a batch. */
  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    const body = await this.http.send('POST', '/api/embed', this.headers(), { model: this.options.model, input: request.values }, request.signal);
    const response = await this.http.readJson(body, EmbedSchema, request.signal);
    return { embeddings: this.http.expectCount(response.embeddings, request.values.length), usage: { inputTokens: response.prompt_eval_count ?? 0 } };
  }

  /**
   * Ollama loads a model into memory on its first call, which takes seconds to minutes; a
   * generate request without a prompt loads it (and keeps it loaded for keep_alive) without
   * generating anything, so the first user does not wait for it.
   */
  async warmUp(signal: AbortSignal): Promise<void> {
    const body = await this.http.send('POST', '/api/generate', this.headers(), { model: this.options.model, ...(this.options.keepAlive !== undefined && { keep_alive: this.options.keepAlive }) }, signal);
    const reply = await this.http.readJson(body, ChatSchema, signal);
    if (reply.error !== undefined) throw new ModelError('bad_response', this.provider, `loading ${this.options.model} failed: ${JSON.stringify(reply.error)}`);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', '/api/chat', this.headers(), this.body(request, true), request.signal);
    let calledTools = false;
    for await (const line of ndjsonLines(body)) {
      const chunk = this.http.parse(line, ChatSchema, 'stream line');
      if (chunk.error !== undefined) throw new ModelError('server', this.provider, `the stream reported an error: ${JSON.stringify(chunk.error)}`);
      if (chunk.message?.content) yield { type: 'text-delta', delta: chunk.message.content };
      // Ollama sends tool calls whole, in one line.
      for (const toolCall of toolCallsOf(chunk)) {
        calledTools = true;
        yield { type: 'tool-call', toolCall };
      }
      if (chunk.done === true) {
        yield { type: 'finish', ...finishOf(chunk, calledTools), ...withWarnings(settingWarnings(request)) };
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
      messages: request.messages.map((m) => toOllamaMessage(m, request.messages)),
      // Ollama has no tool_choice: `none` is honoured by not offering the tools.
      ...(request.tools?.length &&
        request.toolChoice !== 'none' && {
          tools: request.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description && { description: t.description }), parameters: t.parameters } })),
        }),
      // Explicit both ways: /api/chat streams unless told not to.
      stream,
      ...(Object.keys(options).length > 0 && { options }),
      ...(this.options.keepAlive !== undefined && { keep_alive: this.options.keepAlive }),
    };
  }
}

/** Ollama has no tool_choice: it can offer tools or not, but never force one. */
function settingWarnings(request: GenerateRequest) {
  return request.tools?.length && request.toolChoice !== 'none' && request.toolChoice !== 'auto'
    ? unsupportedSettings(request, { toolChoice: 'Ollama has no tool_choice; the model was offered the tools and chose freely' })
    : [];
}

export function createOllamaModel(options: OllamaModelOptions): OllamaModel {
  return new OllamaModel(options);
}

function toOllamaMessage(m: ChatMessage, messages: readonly ChatMessage[]): Record<string, unknown> {
  if (m.role === 'tool') return { role: 'tool', content: m.content, tool_name: toolNameOf(m, messages) };
  if (m.role === 'assistant' && m.toolCalls?.length) {
    return { role: 'assistant', content: m.content, tool_calls: m.toolCalls.map((c) => ({ function: { name: c.name, arguments: argumentsObject(c) } })) };
  }
  return { role: m.role, content: m.content };
}

function toolCallsOf(line: ChatLine): ToolCall[] {
  return (line.message?.tool_calls ?? []).map((c) => ({ id: newToolCallId(), name: c.function.name, arguments: JSON.stringify(c.function.arguments ?? {}) }));
}

function finishOf(line: ChatLine, calledTools = false): { finishReason: FinishReason; usage: { inputTokens: number; outputTokens: number } } {
  // done_reason is `stop`, `length`, or `load`/`unload` for calls that only (un)loaded the model;
  // a reply that called tools still says `stop`.
  const finishReason: FinishReason = line.done_reason === 'length' ? 'length' : calledTools ? 'tool-calls' : 'stop';
  return { finishReason, usage: { inputTokens: line.prompt_eval_count ?? 0, outputTokens: line.eval_count ?? 0 } };
}

const ErrorBodySchema = z.object({ error: z.string() });

/** Ollama's errors are `{"error": "..."}`; a prompt over the context length says so in words. */
export function readOllamaError(_status: number, body: unknown, text: string): VendorErrorInfo {
  const parsed = ErrorBodySchema.safeParse(body);
  const message = parsed.success ? parsed.data.error : text;
  return { message, contextLength: /context (length|window|size)/i.test(message) };
}
