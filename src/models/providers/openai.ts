import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { ChatMessage, EmbeddingModel, EmbedRequest, EmbedResult, FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart, ToolCall, Usage } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { sseEvents } from './stream-parsers.js';
import { newToolCallId } from './tools.js';

export interface OpenAIModelOptions extends HttpOptions {
  model: string;
  apiKey?: string;
  /**
   * `openai` for api.openai.com; `openai-compatible` for the many servers speaking the same
   * protocol (vLLM, llama.cpp's server, Ollama's /v1, LM Studio), which only differ in details.
   */
  provider?: 'openai' | 'openai-compatible';
  /** Sent with every call, e.g. `OpenAI-Organization` or what a gateway in front wants. */
  headers?: Record<string, string>;
}

/** OpenAI's own API; the option most callers leave unset. */
export const OPENAI_BASE_URL = 'https://api.openai.com/v1';

const UsageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number() });

const ToolCallSchema = z.object({ id: z.string(), function: z.object({ name: z.string(), arguments: z.string() }) });

const CompletionSchema = z.object({
  // Absent when a server answers 200 with only an error.
  error: z.unknown().optional(),
  choices: z.array(z.object({ message: z.object({ content: z.string().nullish(), tool_calls: z.array(ToolCallSchema).nullish() }), finish_reason: z.string().nullish() })),
  usage: UsageSchema.nullish(),
}).partial({ choices: true });

// A streamed call arrives in pieces keyed by index: the first names it, the rest append arguments.
const ToolCallDeltaSchema = z.object({
  index: z.number(),
  id: z.string().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

const ChunkSchema = z.object({
  choices: z
    .array(z.object({ delta: z.object({ content: z.string().nullish(), tool_calls: z.array(ToolCallDeltaSchema).nullish() }).nullish(), finish_reason: z.string().nullish() }))
    .nullish(),
  usage: UsageSchema.nullish(),
  // Some servers report a failure inside a stream that already answered 200.
  error: z.unknown().optional(),
});

const EmbeddingsSchema = z.object({
  data: z.array(z.object({ index: z.number(), embedding: z.array(z.number()) })),
  usage: z.object({ prompt_tokens: z.number() }).nullish(),
});

const ModelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

/** OpenAI Chat Completions and /embeddings, and every server that copies them; an instance is one model (a chat or an embedding one). */
export class OpenAIModel implements LanguageModel, EmbeddingModel {
  readonly id: string;
  readonly provider: string;
  private readonly http: VendorHttp;

  constructor(private readonly options: OpenAIModelOptions) {
    this.provider = options.provider ?? 'openai';
    this.id = `${this.provider}/${options.model}`;
    this.http = new VendorHttp(this.provider, options, readOpenAIError);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const body = await this.http.send('POST', '/chat/completions', this.headers(), this.body(request, false), request.signal);
    const completion = await this.http.readJson(body, CompletionSchema, request.signal);
    if (completion.error !== undefined) throw new ModelError('server', this.provider, `the response reported an error: ${JSON.stringify(completion.error)}`);
    const [choice] = completion.choices ?? [];
    if (!choice) throw new ModelError('bad_response', this.provider, 'the completion has no choices');
    const toolCalls = (choice.message.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    return {
      text: choice.message.content ?? '',
      ...(toolCalls.length > 0 && { toolCalls }),
      finishReason: toFinishReason(choice.finish_reason),
      usage: toUsage(completion.usage),
    };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    const body = await this.http.send('POST', '/embeddings', this.headers(), { model: this.options.model, input: request.values, encoding_format: 'float' }, request.signal);
    const response = await this.http.readJson(body, EmbeddingsSchema, request.signal);
    // The API documents `index`; order by it rather than trusting the array's order.
    const embeddings = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { embeddings: this.http.expectCount(embeddings, request.values.length), usage: { inputTokens: response.usage?.prompt_tokens ?? 0 } };
  }

  /** The ids the server serves, e.g. to check a configured model exists before the first message. */
  async listModels(signal?: AbortSignal): Promise<string[]> {
    const body = await this.http.send('GET', '/models', this.headers(), undefined, signal);
    return (await this.http.readJson(body, ModelListSchema, signal)).data.map((m) => m.id);
  }

  /** Listing models opens a pooled connection and proves the key, without spending tokens. */
  async warmUp(signal: AbortSignal): Promise<void> {
    await this.listModels(signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', '/chat/completions', { ...this.headers(), accept: 'text/event-stream' }, this.body(request, true), request.signal);
    let finishReason: FinishReason = 'stop';
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    const calls = new Map<number, ToolCall>();
    for await (const event of sseEvents(body)) {
      // Only [DONE] proves the reply is whole: the finish_reason chunk precedes the usage one.
      if (event.data === '[DONE]') {
        for (const toolCall of calls.values()) yield { type: 'tool-call', toolCall };
        yield { type: 'finish', finishReason, usage };
        return;
      }
      const chunk = this.http.parse(event.data, ChunkSchema, 'stream event');
      if (chunk.error !== undefined) throw new ModelError('server', this.provider, `the stream reported an error: ${JSON.stringify(chunk.error)}`);
      for (const choice of chunk.choices ?? []) {
        if (choice.delta?.content) yield { type: 'text-delta', delta: choice.delta.content };
        for (const piece of choice.delta?.tool_calls ?? []) {
          const call = calls.get(piece.index) ?? { id: piece.id ?? newToolCallId(), name: '', arguments: '' };
          call.name += piece.function?.name ?? '';
          call.arguments += piece.function?.arguments ?? '';
          calls.set(piece.index, call);
        }
        if (choice.finish_reason) finishReason = toFinishReason(choice.finish_reason);
      }
      if (chunk.usage) usage = toUsage(chunk.usage);
    }
    throw new ModelError('bad_response', this.provider, 'the stream ended before data: [DONE]');
  }

  private headers(): Record<string, string> {
    return { ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}), ...this.options.headers };
  }

  private body(request: GenerateRequest, stream: boolean): Record<string, unknown> {
    return {
      model: this.options.model,
      messages: request.messages.map(toOpenAIMessage),
      // OpenAI deprecated max_tokens (its reasoning models refuse it); compatible servers
      // mostly know only max_tokens.
      ...(request.maxTokens !== undefined && { [this.provider === 'openai' ? 'max_completion_tokens' : 'max_tokens']: request.maxTokens }),
      ...(request.temperature !== undefined && { temperature: request.temperature }),
      ...(request.tools?.length && {
        tools: request.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description && { description: t.description }), parameters: t.parameters } })),
      }),
      ...(request.toolChoice !== undefined && { tool_choice: typeof request.toolChoice === 'string' ? request.toolChoice : { type: 'function', function: { name: request.toolChoice.name } } }),
      ...(stream && { stream: true, stream_options: { include_usage: true } }),
    };
  }
}

function toOpenAIMessage(m: ChatMessage): Record<string, unknown> {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content };
  if (m.role === 'assistant' && m.toolCalls?.length) {
    return {
      role: 'assistant',
      content: m.content || null,
      tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
    };
  }
  return { role: m.role, content: m.content };
}

export function createOpenAIModel(options: OpenAIModelOptions): OpenAIModel {
  return new OpenAIModel(options);
}

function toFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      // `stop`, and whatever a compatible server invents for a reply it finished normally.
      return 'stop';
  }
}

function toUsage(usage: z.infer<typeof UsageSchema> | null | undefined): Usage {
  return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
}

const ErrorBodySchema = z.object({
  // OpenAI nests the error; vLLM's older versions and others put its fields at the top level.
  error: z.union([z.object({ message: z.string().nullish(), code: z.unknown(), type: z.string().nullish() }), z.string()]).optional(),
  message: z.string().optional(),
});

/**
 * OpenAI marks a too-long prompt with `code: context_length_exceeded`; compatible servers only
 * say it in words (vLLM: "maximum context length", llama.cpp: "exceeds the available context size").
 */
export function readOpenAIError(_status: number, body: unknown, text: string): VendorErrorInfo {
  const parsed = ErrorBodySchema.safeParse(body);
  const error = parsed.success ? parsed.data.error : undefined;
  const message = (typeof error === 'string' ? error : error?.message) ?? (parsed.success ? parsed.data.message : undefined) ?? text;
  const code = typeof error === 'object' ? error.code : undefined;
  const type = typeof error === 'object' ? error.type : undefined;
  return { message, contextLength: code === 'context_length_exceeded' || type === 'exceed_context_size_error' || /context (length|size|window)/i.test(message) };
}
