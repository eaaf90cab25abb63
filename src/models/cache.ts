import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { LanguageModelMiddleware } from './middleware.js';
import type { GenerateRequest, GenerateResult, ToolCall } from './types.js';

export interface ResponseCacheOptions {
  maxEntries: number;
  ttlMs: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  size: number;
}

export type ResponseCache = LanguageModelMiddleware & { stats(): CacheStats };

/**
 * An LRU cache of replies for repeatable requests (S3.2), as a model middleware: temperature 0
 * and the same request give the same answer, so it is served from memory. A cached stream
 * replays as one delta, its tool calls and its finish part. Requests that are not repeatable
 * pass straight through and count as neither hit nor miss; only whole answers (stop or
 * tool-calls) are kept.
 */
export function responseCache(options: ResponseCacheOptions): ResponseCache {
  const cache = new LRUCache<string, GenerateResult>({ max: options.maxEntries, ttl: options.ttlMs });
  let hits = 0;
  let misses = 0;
  const lookup = (request: GenerateRequest): { key: string | undefined; cached: GenerateResult | undefined } => {
    const key = cacheKey(request);
    const cached = key === undefined ? undefined : cache.get(key);
    if (cached) hits++;
    else if (key !== undefined) misses++;
    return { key, cached };
  };
  const keep = (key: string, result: GenerateResult): void => {
    if (result.finishReason === 'stop' || result.finishReason === 'tool-calls') cache.set(key, result);
  };
  return {
    stats: () => ({ hits, misses, size: cache.size }),

    async wrapGenerate({ params, doGenerate }) {
      const { key, cached } = lookup(params);
      if (cached) return cached;
      const result = await doGenerate();
      if (key !== undefined) keep(key, result);
      return result;
    },

    async *wrapStream({ params, doStream }) {
      const { key, cached } = lookup(params);
      if (cached) {
        const { text, toolCalls, ...finish } = cached;
        if (text) yield { type: 'text-delta', delta: text };
        for (const toolCall of toolCalls ?? []) yield { type: 'tool-call', toolCall };
        yield { type: 'finish', ...finish };
        return;
      }
      let text = '';
      const toolCalls: ToolCall[] = [];
      for await (const part of doStream()) {
        if (part.type === 'text-delta') text += part.delta;
        else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
        else if (key !== undefined) {
          const { type: _type, ...finish } = part;
          keep(key, { text, ...(toolCalls.length > 0 && { toolCalls }), ...finish });
        }
        yield part;
      }
    },
  };
}

/**
 * Only deterministic requests are cacheable; the key covers everything that shapes the answer:
 * the messages (so the history, when it is sent), the settings, the tools and the options a
 * provider reads (the built-in model's analysis, when it is passed).
 */
function cacheKey(request: GenerateRequest): string | undefined {
  if (request.temperature !== 0) return undefined;
  const shape = JSON.stringify({
    messages: request.messages,
    maxTokens: request.maxTokens ?? null,
    tools: request.tools ?? null,
    toolChoice: request.toolChoice ?? null,
    providerOptions: request.providerOptions ?? null,
  });
  return createHash('sha256').update(shape).digest('base64url');
}
