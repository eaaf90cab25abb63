import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart, Usage } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { sseEvents } from './stream-parsers.js';

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
        content: z.object({ parts: z.array(z.object({ text: z.string().optional(), thought: z.boolean().optional() })).nullish() }).nullish(),
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

/** Google's Gemini API (generativelanguage.googleapis.com, v1beta). */
export class GeminiModel implements LanguageModel {
  readonly id: string;
  readonly provider = 'gemini';
  private readonly http: VendorHttp;
  private readonly modelPath: string;

  constructor(private readonly options: GeminiModelOptions) {
    const model = options.model.replace(/^models\//, '');
    this.id = `gemini/${model}`;
    this.modelPath = `/v1beta/models/${encodeURIComponent(model)}`;
    this.http = new VendorHttp(this.provider, { ...options, baseUrl: options.baseUrl ?? GEMINI_BASE_URL }, readGeminiError);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const body = await this.http.send('POST', `${this.modelPath}:generateContent`, this.headers(), this.body(request), request.signal);
    const response = await this.http.readJson(body, ResponseSchema, request.signal);
    if (response.error !== undefined) throw new ModelError('bad_response', this.provider, `the response reported an error: ${JSON.stringify(response.error)}`);
    const finish = finishOf(response);
    if (!finish) throw new ModelError('bad_response', this.provider, 'the response has neither a finished candidate nor a block reason');
    return { text: textOf(response), finishReason: finish, usage: usageOf(response) };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', `${this.modelPath}:streamGenerateContent?alt=sse`, { ...this.headers(), accept: 'text/event-stream' }, this.body(request), request.signal);
    let finishReason: FinishReason | undefined;
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    for await (const event of sseEvents(body)) {
      const chunk = this.http.parse(event.data, ResponseSchema, 'stream event');
      if (chunk.error !== undefined) throw new ModelError('bad_response', this.provider, `the stream reported an error: ${JSON.stringify(chunk.error)}`);
      const text = textOf(chunk);
      if (text) yield { type: 'text-delta', delta: text };
      if (chunk.usageMetadata) usage = usageOf(chunk);
      finishReason = finishOf(chunk) ?? finishReason;
    }
    // Gemini has no end-of-stream event: the last chunk carries the finishReason, so a stream
    // that ends without one was cut.
    if (!finishReason) throw new ModelError('bad_response', this.provider, 'the stream ended before a finishReason');
    yield { type: 'finish', finishReason, usage };
  }

  private headers(): Record<string, string> {
    return { 'x-goog-api-key': this.options.apiKey, ...this.options.headers };
  }

  private body(request: GenerateRequest): Record<string, unknown> {
    const system = request.messages.filter((m) => m.role === 'system').map((m) => ({ text: m.content }));
    // Gemini calls the assistant `model` and wants turns alternating, so consecutive messages
    // of one role become one turn of several parts.
    const contents: Array<{ role: 'user' | 'model'; parts: Array<{ text: string }> }> = [];
    for (const m of request.messages) {
      if (m.role === 'system') continue;
      const role = m.role === 'assistant' ? 'model' : 'user';
      const last = contents.at(-1);
      if (last?.role === role) last.parts.push({ text: m.content });
      else contents.push({ role, parts: [{ text: m.content }] });
    }
    const generationConfig = {
      ...(request.maxTokens !== undefined && { maxOutputTokens: request.maxTokens }),
      ...(request.temperature !== undefined && { temperature: request.temperature }),
    };
    return {
      contents,
      ...(system.length > 0 && { systemInstruction: { parts: system } }),
      ...(Object.keys(generationConfig).length > 0 && { generationConfig }),
    };
  }
}

export function createGeminiModel(options: GeminiModelOptions): GeminiModel {
  return new GeminiModel(options);
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
