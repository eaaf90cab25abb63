import type { FastifyReply, FastifyRequest } from 'fastify';
import { PincerError } from '../errors.js';
import type { JsonObject } from '../store/types.js';
import type { ChatMessage, EmbedResult, FinishReason, GenerateRequest, ToolCall, ToolChoice, Usage } from '../models/types.js';
import { object, string } from './schemas.js';

/**
 * OpenAI's Chat Completions wire format, as both of Pincer's OpenAI-compatible endpoints speak
 * it: the bot's own (/v1/chat/completions on the main server, answered through the queue) and
 * the model service's (`pincer model serve`, answered by a model directly).
 */

const ContentPart = object({ type: string(), text: string() }, ['type']);
const ToolCallSchema = object({ id: string(), type: { const: 'function' }, function: object({ name: string(), arguments: string() }, ['name', 'arguments']) }, ['id', 'function']);
const ChatMessageSchema = object(
  {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: { anyOf: [string(), { type: 'array', items: ContentPart }, { type: 'null' }] },
    name: string(),
    tool_calls: { type: 'array', items: ToolCallSchema },
    tool_call_id: string(),
  },
  ['role'],
);
const ToolSchema = object(
  { type: { const: 'function' }, function: object({ name: string({ minLength: 1, maxLength: 64 }), description: string(), parameters: { type: 'object' }, strict: { type: ['boolean', 'null'] } }, ['name']) },
  ['type', 'function'],
);

export const ChatBodySchema = object(
  {
    model: string({ minLength: 1 }),
    messages: { type: 'array', items: ChatMessageSchema, minItems: 1, maxItems: 1000 },
    stream: { type: 'boolean' },
    stream_options: { anyOf: [object({ include_usage: { type: 'boolean' } }, []), { type: 'null' }] },
    temperature: { anyOf: [{ type: 'number', minimum: 0, maximum: 2 }, { type: 'null' }] },
    max_tokens: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }] },
    max_completion_tokens: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }] },
    n: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1 }, { type: 'null' }] },
    tools: { type: 'array', items: ToolSchema, maxItems: 128 },
    tool_choice: { anyOf: [{ enum: ['auto', 'none', 'required'] }, object({ type: { const: 'function' }, function: object({ name: string() }, ['name']) }, ['type', 'function'])] },
    user: string({ maxLength: 128 }),
  },
  ['model', 'messages'],
);

type WireContent = string | Array<{ type: string; text?: string }> | null;

export interface ChatBody {
  model: string;
  messages: Array<{ role: string; content?: WireContent; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string; name?: string }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  temperature?: number | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  tools?: Array<{ function: { name: string; description?: string; parameters?: JsonObject } }>;
  tool_choice?: 'auto' | 'none' | 'required' | { function: { name: string } };
  user?: string;
}

export function textOf(content: WireContent | undefined): string {
  if (typeof content === 'string') return content;
  return (content ?? []).filter((p) => p.type === 'text' && typeof p.text === 'string').map((p) => p.text).join('\n');
}

/** The body as a model request; `developer` is OpenAI's newer name for `system`. */
export function toGenerateRequest(body: ChatBody): GenerateRequest {
  const messages: ChatMessage[] = body.messages.map((m) => {
    const content = textOf(m.content);
    switch (m.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content };
      case 'tool':
        if (!m.tool_call_id) throw new PincerError('VALIDATION_ERROR', 'a message with role "tool" needs tool_call_id');
        return { role: 'tool', content, toolCallId: m.tool_call_id };
      case 'assistant':
        return { role: 'assistant', content, ...(m.tool_calls?.length && { toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) }) };
      default:
        return { role: 'user', content };
    }
  });
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const choice = body.tool_choice;
  const toolChoice: ToolChoice | undefined = choice === undefined ? undefined : typeof choice === 'string' ? choice : { name: choice.function.name };
  return {
    messages,
    ...(maxTokens != null && { maxTokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.tools?.length && {
      tools: body.tools.map((t) => ({ name: t.function.name, ...(t.function.description && { description: t.function.description }), parameters: t.function.parameters ?? { type: 'object', properties: {} } })),
    }),
    ...(toolChoice !== undefined && { toolChoice }),
  };
}

export function wireFinishReason(reason: FinishReason | string): string {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool-calls':
      return 'tool_calls';
    case 'content-filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}

export function wireUsage(usage: Usage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
}

export function wireToolCalls(calls: readonly ToolCall[]): Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> {
  return calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
}

export const EmbeddingsBodySchema = object(
  {
    model: string({ minLength: 1 }),
    input: { anyOf: [string(), { type: 'array', items: string(), minItems: 1, maxItems: 2048 }] },
    encoding_format: { enum: ['float', 'base64'] },
    dimensions: { type: 'integer', minimum: 1 },
    user: string(),
  },
  ['model', 'input'],
);

export interface EmbeddingsBody {
  model: string;
  input: string | string[];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
}

export function embeddingsInput(body: EmbeddingsBody): string[] {
  return typeof body.input === 'string' ? [body.input] : body.input;
}

/** OpenAI's embeddings answer; `dimensions` cannot be honoured by cutting a vector short, so a mismatch is a 400. */
export function embeddingsResponse(body: EmbeddingsBody, result: EmbedResult): JsonObject {
  const length = result.embeddings[0]?.length ?? 0;
  if (body.dimensions !== undefined && body.dimensions !== length) {
    throw new PincerError('VALIDATION_ERROR', `model "${body.model}" gives ${length} dimensions; it cannot give ${body.dimensions}`);
  }
  return {
    object: 'list',
    // The official SDKs ask for base64 by default: little-endian float32, as OpenAI sends.
    data: result.embeddings.map((vector, index) => ({ object: 'embedding', index, embedding: body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector })),
    model: body.model,
    usage: { prompt_tokens: result.usage.inputTokens, total_tokens: result.usage.inputTokens },
  };
}

export interface CompletionStream {
  /** A `chat.completion.chunk` with this delta and finish reason. */
  delta(delta: JsonObject, finishReason?: string | null): void;
  usage(usage: Usage): void;
  /** An error after the 200: OpenAI's clients read an `error` event. */
  error(code: string, message: string): void;
  done(): void;
}

/** Takes over the response for server-sent events in OpenAI's chunk format; the caller must call `done` (or `error`) and the stream ends. */
export function openCompletionStream(request: FastifyRequest, reply: FastifyReply, id: string, model: string): CompletionStream {
  const created = Math.floor(Date.now() / 1000);
  const write = (data: unknown) => {
    if (!reply.raw.destroyed) reply.raw.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };
  const chunk = (choices: unknown[], extra: JsonObject = {}) => ({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': request.id });
  return {
    delta: (delta, finishReason = null) => write(chunk([{ index: 0, delta, logprobs: null, finish_reason: finishReason }])),
    usage: (usage) => write(chunk([], { usage: wireUsage(usage) })),
    error: (code, message) => {
      write({ error: { code, message, type: 'server_error' } });
      reply.raw.end();
    },
    done: () => {
      write('[DONE]');
      reply.raw.end();
    },
  };
}

/**
 * How a model's failure reaches an HTTP client. A ModelError's code carries the status OpenAI
 * would use (the catalogue's), so clients retry (or not) rightly.
 */
export function modelHttpError(err: unknown): PincerError {
  if (err instanceof PincerError) return err;
  return new PincerError('MODEL_SERVER', err instanceof Error ? err.message : String(err));
}
