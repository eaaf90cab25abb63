import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { JsonObject } from '../../json.js';
import type { EmbeddingModel, EmbedRequest, EmbedResult, FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart, ToolCall, ToolChoice, Usage } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { sseEvents } from './stream-parsers.js';
import { argumentsObject, newToolCallId, toolNameOf } from './tools.js';

export interface GeminiModelOptions extends Partial<HttpOptions> {
  /** e.g. `gemini-2.5-flash`; a `models/` prefix, as the API lists them, is accepted. */
  model: string;
  apiKey: string;
  /** Sent with every call. */
  headers?: Record<string, string>;
}

export const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com';

const ResponseSchema = z.object({
  candidates: z
    .array(
      z.object({
        content: z
          .object({
            parts: z
              .array(
                z.object({
                  text: z.string().optional(),
                  thought: z.boolean().optional(),
                  functionCall: z.object({ id: z.string().nullish(), name: z.string(), args: z.record(z.string(), z.unknown()).nullish() }).optional(),
                }),
              )
              .nullish(),
          })
          .nullish(),
        finishReason: z.string().nullish(),
      }),
    )
    .nullish(),
  usageMetadata: z.object({ promptTokenCount: z.number().nullish(), candidatesTokenCount: z.number().nullish() }).nullish(),
  // A prompt blocked outright gets no candidates at all, only this.
  promptFeedback: z.object({ blockReason: z.string().nullish() }).nullish(),
  error: z.unknown().optional(),
});
type GeminiResponse = z.infer<typeof ResponseSchema>;

const BatchEmbeddingsSchema = z.object({ embeddings: z.array(z.object({ values: z.array(z.number()) })) });

/** Google's Gemini API (generativelanguage.googleapis.com, v1beta). */
export class GeminiModel implements LanguageModel, EmbeddingModel {
  readonly id: string;
  readonly provider = 'gemini';
  private readonly http: VendorHttp;
  private readonly modelPath: string;
  private readonly model: string;

  constructor(private readonly options: GeminiModelOptions) {
    const model = options.model.replace(/^models\//, '');
    this.model = model;
    this.id = `gemini/${model}`;
    this.modelPath = `/v1beta/models/${encodeURIComponent(model)}`;
    this.http = new VendorHttp(this.provider, { ...options, baseUrl: options.baseUrl ?? GEMINI_BASE_URL }, readGeminiError);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const body = await this.http.send('POST', `${this.modelPath}:generateContent`, this.headers(), this.body(request), request.signal);
    const response = await this.http.readJson(body, ResponseSchema, request.signal);
    if (response.error !== undefined) throw new ModelError('server', this.provider, `the response reported an error: ${JSON.stringify(response.error)}`);
    const finish = finishOf(response);
    if (!finish) throw new ModelError('bad_response', this.provider, 'the response has neither a finished candidate nor a block reason');
    const toolCalls = toolCallsOf(response);
    return { text: textOf(response), ...(toolCalls.length > 0 && { toolCalls }), finishReason: toolCalls.length > 0 ? 'tool-calls' : finish, usage: usageOf(response) };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  /** batchEmbedContents, for embedding models (text-embedding-004, gemini-embedding-001). */
  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    const requests = request.values.map((text) => ({ model: `models/${this.model}`, content: { parts: [{ text }] } }));
    const body = await this.http.send('POST', `${this.modelPath}:batchEmbedContents`, this.headers(), { requests }, request.signal);
    const response = await this.http.readJson(body, BatchEmbeddingsSchema, request.signal);
    // The API reports no token count for embeddings.
    return { embeddings: this.http.expectCount(response.embeddings.map((e) => e.values), request.values.length), usage: { inputTokens: 0 } };
  }

  /** Fetching the model's description opens a pooled connection and proves both the key and the model name. */
  async warmUp(signal: AbortSignal): Promise<void> {
    const body = await this.http.send('GET', this.modelPath, this.headers(), undefined, signal);
    await this.http.readJson(body, z.object({ name: z.string() }), signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', `${this.modelPath}:streamGenerateContent?alt=sse`, { ...this.headers(), accept: 'text/event-stream' }, this.body(request), request.signal);
    let finishReason: FinishReason | undefined;
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let calledTools = false;
    for await (const event of sseEvents(body)) {
      const chunk = this.http.parse(event.data, ResponseSchema, 'stream event');
      if (chunk.error !== undefined) throw new ModelError('server', this.provider, `the stream reported an error: ${JSON.stringify(chunk.error)}`);
      const text = textOf(chunk);
      if (text) yield { type: 'text-delta', delta: text };
      // Gemini sends each function call whole, in one chunk.
      for (const toolCall of toolCallsOf(chunk)) {
        calledTools = true;
        yield { type: 'tool-call', toolCall };
      }
      if (chunk.usageMetadata) usage = usageOf(chunk);
      finishReason = finishOf(chunk) ?? finishReason;
    }
    // Gemini has no end-of-stream event: the last chunk carries the finishReason, so a stream
    // that ends without one was cut.
    if (!finishReason) throw new ModelError('bad_response', this.provider, 'the stream ended before a finishReason');
    // A reply that calls functions still finishes with STOP.
    yield { type: 'finish', finishReason: calledTools && finishReason === 'stop' ? 'tool-calls' : finishReason, usage };
  }

  private headers(): Record<string, string> {
    return { 'x-goog-api-key': this.options.apiKey, ...this.options.headers };
  }

  private body(request: GenerateRequest): Record<string, unknown> {
    const system = request.messages.filter((m) => m.role === 'system').map((m) => ({ text: m.content }));
    // Gemini calls the assistant `model` and wants turns alternating, so consecutive messages
    // of one role become one turn of several parts.
    // A tool's result is a functionResponse part in a user turn, matched to its call by name.
    const contents: Array<{ role: 'user' | 'model'; parts: GeminiPart[] }> = [];
    for (const m of request.messages) {
      if (m.role === 'system') continue;
      const role = m.role === 'assistant' ? 'model' : 'user';
      const parts: GeminiPart[] =
        m.role === 'tool'
          ? [{ functionResponse: { name: toolNameOf(m, request.messages), response: toolResponse(m.content) } }]
          : [...(m.content || !m.toolCalls?.length ? [{ text: m.content }] : []), ...(m.toolCalls ?? []).map((c) => ({ functionCall: { name: c.name, args: argumentsObject(c) } }))];
      const last = contents.at(-1);
      if (last?.role === role) last.parts.push(...parts);
      else contents.push({ role, parts });
    }
    const generationConfig = {
      ...(request.maxTokens !== undefined && { maxOutputTokens: request.maxTokens }),
      ...(request.temperature !== undefined && { temperature: request.temperature }),
    };
    return {
      contents,
      ...(system.length > 0 && { systemInstruction: { parts: system } }),
      ...(request.tools?.length && {
        tools: [{ functionDeclarations: request.tools.map((t) => ({ name: t.name, ...(t.description && { description: t.description }), parameters: t.parameters })) }],
      }),
      ...(request.toolChoice !== undefined && { toolConfig: { functionCallingConfig: toFunctionCallingConfig(request.toolChoice) } }),
      ...(Object.keys(generationConfig).length > 0 && { generationConfig }),
    };
  }
}

export function createGeminiModel(options: GeminiModelOptions): GeminiModel {
  return new GeminiModel(options);
}

type GeminiPart = { text: string } | { functionCall: { name: string; args: JsonObject } } | { functionResponse: { name: string; response: JsonObject } };

/** Gemini wants a function's response as an object: a JSON object result is sent as is, anything else wrapped. */
function toolResponse(content: string): JsonObject {
  try {
    const value: unknown = JSON.parse(content);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as JsonObject;
  } catch {
    // plain text
  }
  return { content };
}

function toFunctionCallingConfig(choice: ToolChoice): Record<string, unknown> {
  if (typeof choice === 'object') return { mode: 'ANY', allowedFunctionNames: [choice.name] };
  return { mode: choice === 'required' ? 'ANY' : choice.toUpperCase() };
}

function toolCallsOf(response: GeminiResponse): ToolCall[] {
  const parts = response.candidates?.[0]?.content?.parts ?? [];
  return parts.flatMap((p) => (p.functionCall ? [{ id: p.functionCall.id ?? newToolCallId(), name: p.functionCall.name, arguments: JSON.stringify(p.functionCall.args ?? {}) }] : []));
}

/** Thinking models interleave their thoughts as parts flagged `thought`: not part of the reply. */
function textOf(response: GeminiResponse): string {
  const parts = response.candidates?.[0]?.content?.parts ?? [];
  return parts.map((p) => (p.thought ? '' : (p.text ?? ''))).join('');
}

function usageOf(response: GeminiResponse): Usage {
  return { inputTokens: response.usageMetadata?.promptTokenCount ?? 0, outputTokens: response.usageMetadata?.candidatesTokenCount ?? 0 };
}

function finishOf(response: GeminiResponse): FinishReason | undefined {
  if (response.promptFeedback?.blockReason && !response.candidates?.length) return 'content-filter';
  const reason = response.candidates?.[0]?.finishReason;
  switch (reason) {
    case undefined:
    case null:
    case 'FINISH_REASON_UNSPECIFIED':
      return undefined;
    case 'STOP':
      return 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content-filter';
    case 'MALFORMED_FUNCTION_CALL':
    case 'UNEXPECTED_TOOL_CALL':
      return 'tool-calls';
    default:
      // OTHER, LANGUAGE and whatever comes next: the reply stopped for a reason not its own.
      return 'error';
  }
}

const ErrorBodySchema = z.object({
  error: z.object({
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.object({ '@type': z.string().optional(), reason: z.string().optional(), retryDelay: z.string().optional() })).optional(),
  }),
});

/**
 * Google refuses a bad key with 400 INVALID_ARGUMENT (reason API_KEY_INVALID), a too-long
 * prompt with a 400 saying the token count exceeds the maximum, and puts a 429's wait in a
 * RetryInfo detail rather than a Retry-After header.
 */
export function readGeminiError(_status: number, body: unknown, text: string): VendorErrorInfo {
  const parsed = ErrorBodySchema.safeParse(body);
  if (!parsed.success) return { message: text };
  const { message = '', status, details = [] } = parsed.data.error;
  const delay = details.find((d) => d.retryDelay)?.retryDelay?.match(/^(\d+(?:\.\d+)?)s$/);
  return {
    message: status ? `${status}: ${message}` : message,
    auth: details.some((d) => d.reason === 'API_KEY_INVALID'),
    contextLength: /exceeds the maximum number of tokens|context (length|window)/i.test(message),
    ...(delay?.[1] !== undefined && { retryAfterMs: Math.round(Number(delay[1]) * 1000) }),
  };
}
