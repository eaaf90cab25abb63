import { z } from 'zod';
import { ModelError } from '../errors.js';
import type { JsonObject } from '../../json.js';
import type { CallWarning, ChatMessage, FinishReason, GenerateRequest, GenerateResult, LanguageModel, StreamPart, ToolCall, ToolChoice, Usage } from '../types.js';
import { VendorHttp, type HttpOptions, type VendorErrorInfo } from './http.js';
import { sseEvents } from './stream-parsers.js';
import { argumentsObject, newToolCallId } from './tools.js';
import { withWarnings } from '../warnings.js';

export interface AnthropicModelOptions extends Partial<HttpOptions> {
  model: string;
  apiKey: string;
  /** The Messages API requires a reply budget; this one applies when a request sets none. */
  defaultMaxTokens?: number;
  /** Sent with every call, e.g. `anthropic-beta`. */
  headers?: Record<string, string>;
}

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 1024;
/** The Messages API takes temperatures 0..1 (OpenAI's clients may send up to 2). */
const MAX_TEMPERATURE = 1;

const UsageSchema = z.object({ input_tokens: z.number().nullish(), output_tokens: z.number().nullish() });

const MessageSchema = z.object({
  // `{type: "error", error}` in place of a message: a failure reported with a 200.
  type: z.string().optional(),
  error: z.object({ type: z.string().optional(), message: z.string().optional() }).optional(),
  content: z.array(z.object({ type: z.string(), text: z.string().optional(), id: z.string().optional(), name: z.string().optional(), input: z.unknown().optional() })),
  stop_reason: z.string().nullish(),
  usage: UsageSchema.nullish(),
});

// Only the fields the stream's events carry that a text reply needs; `ping` and unknown
// future events parse as an object and are ignored.
const EventSchema = z.object({
  message: z.object({ usage: UsageSchema.nullish() }).optional(),
  index: z.number().optional(),
  content_block: z.object({ type: z.string(), id: z.string().optional(), name: z.string().optional() }).optional(),
  delta: z.object({ type: z.string().optional(), text: z.string().optional(), partial_json: z.string().optional(), stop_reason: z.string().nullish() }).optional(),
  usage: UsageSchema.nullish(),
  error: z.object({ type: z.string().optional(), message: z.string().optional() }).optional(),
});

/** Anthropic's Messages API. */
export class AnthropicModel implements LanguageModel {
  readonly id: string;
  readonly provider = 'anthropic';
  private readonly http: VendorHttp;

  constructor(private readonly options: AnthropicModelOptions) {
    this.id = `anthropic/${options.model}`;
    this.http = new VendorHttp(this.provider, { ...options, baseUrl: options.baseUrl ?? ANTHROPIC_BASE_URL }, readAnthropicError);
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const body = await this.http.send('POST', '/v1/messages', this.headers(), this.body(request, false), request.signal);
    const message = await this.http.readJson(body, MessageSchema.partial({ content: true }), request.signal);
    if (message.type === 'error' || !message.content) {
      throw new ModelError('server', this.provider, `the response reported ${message.error?.type ?? 'an error'}: ${message.error?.message ?? 'no content'}`);
    }
    const toolCalls = message.content
      .filter((block) => block.type === 'tool_use')
      .map((block) => ({ id: block.id ?? newToolCallId(), name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) }));
    return {
      text: message.content.map((block) => (block.type === 'text' ? (block.text ?? '') : '')).join(''),
      ...(toolCalls.length > 0 && { toolCalls }),
      finishReason: toFinishReason(message.stop_reason),
      usage: { inputTokens: message.usage?.input_tokens ?? 0, outputTokens: message.usage?.output_tokens ?? 0 },
      ...withWarnings(settingWarnings(request)),
    };
  }

  doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    return this.http.guard(this.stream(request), request.signal);
  }

  /** Listing models opens a pooled connection and proves the key, without spending tokens. */
  async warmUp(signal: AbortSignal): Promise<void> {
    const body = await this.http.send('GET', '/v1/models', this.headers(), undefined, signal);
    await this.http.readJson(body, z.object({ data: z.array(z.unknown()) }), signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async *stream(request: GenerateRequest): AsyncGenerator<StreamPart> {
    const body = await this.http.send('POST', '/v1/messages', { ...this.headers(), accept: 'text/event-stream' }, this.body(request, true), request.signal);
    let finishReason: FinishReason = 'stop';
    const usage: Usage = { inputTokens: 0, outputTokens: 0 };
    // A tool_use block's input arrives as pieces of JSON text; the call is whole at its block's stop.
    const calls = new Map<number, ToolCall>();
    for await (const event of sseEvents(body)) {
      const data = this.http.parse(event.data, EventSchema, `${event.event} event`);
      switch (event.event) {
        case 'message_start':
          usage.inputTokens = data.message?.usage?.input_tokens ?? usage.inputTokens;
          usage.outputTokens = data.message?.usage?.output_tokens ?? usage.outputTokens;
          break;
        case 'content_block_start':
          if (data.content_block?.type === 'tool_use') calls.set(data.index ?? 0, { id: data.content_block.id ?? newToolCallId(), name: data.content_block.name ?? '', arguments: '' });
          break;
        case 'content_block_delta': {
          if (data.delta?.type === 'text_delta' && data.delta.text) yield { type: 'text-delta', delta: data.delta.text };
          const call = calls.get(data.index ?? 0);
          if (call && data.delta?.type === 'input_json_delta') call.arguments += data.delta.partial_json ?? '';
          break;
        }
        case 'content_block_stop': {
          const call = calls.get(data.index ?? 0);
          if (call) {
            calls.delete(data.index ?? 0);
            // A tool without parameters streams no input at all.
            yield { type: 'tool-call', toolCall: { ...call, arguments: call.arguments || '{}' } };
          }
          break;
        }
        case 'message_delta':
          if (data.delta?.stop_reason) finishReason = toFinishReason(data.delta.stop_reason);
          // message_delta's usage counts are cumulative, so they replace the start's.
          usage.inputTokens = data.usage?.input_tokens ?? usage.inputTokens;
          usage.outputTokens = data.usage?.output_tokens ?? usage.outputTokens;
          break;
        case 'message_stop':
          yield { type: 'finish', finishReason, usage, ...withWarnings(settingWarnings(request)) };
          return;
        case 'error':
          // Mid-stream errors are overloads and the like: worth a retry, like a 529 or 500.
          throw new ModelError(data.error?.type === 'rate_limit_error' ? 'rate_limit' : 'server', this.provider, `the stream reported ${data.error?.type ?? 'an error'}: ${data.error?.message ?? event.data}`);
      }
    }
    throw new ModelError('bad_response', this.provider, 'the stream ended before message_stop');
  }

  private headers(): Record<string, string> {
    return { 'x-api-key': this.options.apiKey, 'anthropic-version': ANTHROPIC_VERSION, ...this.options.headers };
  }

  private body(request: GenerateRequest, stream: boolean): Record<string, unknown> {
    // The API has no system role: system text goes in the top-level `system` field, wherever
    // in the conversation it was.
    const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content);
    return {
      model: this.options.model,
      max_tokens: request.maxTokens ?? this.options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS,
      ...(system.length > 0 && { system: system.join('\n\n') }),
      messages: toAnthropicMessages(request.messages),
      ...(request.temperature !== undefined && { temperature: Math.min(request.temperature, MAX_TEMPERATURE) }),
      ...(request.tools?.length && {
        tools: request.tools.map((t) => ({ name: t.name, ...(t.description && { description: t.description }), input_schema: t.parameters })),
      }),
      ...(request.toolChoice !== undefined && { tool_choice: toAnthropicToolChoice(request.toolChoice) }),
      ...(stream && { stream: true }),
    };
  }
}

/** A temperature above the API's range is sent as its maximum, and said so. */
function settingWarnings(request: GenerateRequest): CallWarning[] {
  if (request.temperature === undefined || request.temperature <= MAX_TEMPERATURE) return [];
  return [{ type: 'unsupported-setting', setting: 'temperature', details: `Anthropic accepts 0..${MAX_TEMPERATURE}; ${request.temperature} was sent as ${MAX_TEMPERATURE}` }];
}

type AnthropicBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: JsonObject } | { type: 'tool_result'; tool_use_id: string; content: string };

/**
 * Anthropic has no tool role: a tool's result is a `tool_result` block in a user turn, and
 * the results of one assistant turn's calls must share a single user turn.
 */
function toAnthropicMessages(messages: readonly ChatMessage[]): Array<{ role: 'user' | 'assistant'; content: string | AnthropicBlock[] }> {
  const out: Array<{ role: 'user' | 'assistant'; content: string | AnthropicBlock[] }> = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'tool') {
      const block: AnthropicBlock = { type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: m.content };
      const last = out.at(-1);
      if (last?.role === 'user' && Array.isArray(last.content) && last.content.every((b) => b.type === 'tool_result')) last.content.push(block);
      else out.push({ role: 'user', content: [block] });
    } else if (m.role === 'assistant' && m.toolCalls?.length) {
      out.push({
        role: 'assistant',
        content: [...(m.content ? [{ type: 'text' as const, text: m.content }] : []), ...m.toolCalls.map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: argumentsObject(c) }))],
      });
    } else {
      out.push({ role: m.role, content: m.content });
    }
  }
  return out;
}

function toAnthropicToolChoice(choice: ToolChoice): Record<string, string> {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  return { type: choice === 'required' ? 'any' : choice };
}

export function createAnthropicModel(options: AnthropicModelOptions): AnthropicModel {
  return new AnthropicModel(options);
}

function toFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'content-filter';
    default:
      // end_turn, stop_sequence, pause_turn: the model stopped of its own accord.
      return 'stop';
  }
}

const ErrorBodySchema = z.object({ error: z.object({ type: z.string().optional(), message: z.string().optional() }) });

/** Anthropic's too-long prompt is a 400 invalid_request_error whose message says so. */
export function readAnthropicError(_status: number, body: unknown, text: string): VendorErrorInfo {
  const parsed = ErrorBodySchema.safeParse(body);
  const message = parsed.success ? `${parsed.data.error.type ?? 'error'}: ${parsed.data.error.message ?? ''}` : text;
  return { message, contextLength: /prompt is too long|exceed context limit|context window/i.test(message) };
}
