import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { GenerateRequest, GenerateResult, LanguageModel, StreamPart, ToolCall } from './types.js';

export interface ResponseCacheOptions {
  maxEntries: number;
  ttlMs: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  size: number;
}

/**
 * An LRU cache of replies for repeatable requests (S3.2): temperature 0 and the same messages
 * give the same answer, so it is served from memory. A cached stream replays as one delta and
 * its finish part. Requests that are not repeatable pass straight through.
 */
export class CachedModel implements LanguageModel {
  readonly id: string;
  readonly provider: string;
  private readonly cache: LRUCache<string, GenerateResult>;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly model: LanguageModel,
    options: ResponseCacheOptions,
  ) {
    this.id = model.id;
    this.provider = model.provider;
    this.cache = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs });
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, size: this.cache.size };
  }

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    const key = cacheKey(request);
    if (key === undefined) return this.model.doGenerate(request);
    const cached = this.cache.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const result = await this.model.doGenerate(request);
    if (result.finishReason === 'stop' || result.finishReason === 'tool-calls') this.cache.set(key, result);
    return result;
  }

  async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    const key = cacheKey(request);
    const cached = key === undefined ? undefined : this.cache.get(key);
    if (cached) {
      this.hits++;
      const { text, toolCalls, ...finish } = cached;
      if (text) yield { type: 'text-delta', delta: text };
      for (const toolCall of toolCalls ?? []) yield { type: 'tool-call', toolCall };
      yield { type: 'finish', ...finish };
      return;
    }
    if (key !== undefined) this.misses++;
    let text = '';
    const toolCalls: ToolCall[] = [];
    for await (const part of this.model.doStream(request)) {
      if (part.type === 'text-delta') text += part.delta;
      else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
      else if (key !== undefined && (part.finishReason === 'stop' || part.finishReason === 'tool-calls')) {
        const { type: _type, ...finish } = part;
        this.cache.set(key, { text, ...(toolCalls.length > 0 && { toolCalls }), ...finish });
      }
      yield part;
    }
  }
}

/** Only deterministic requests are cacheable; the key covers everything that shapes the answer. */
function cacheKey(request: GenerateRequest): string | undefined {
  if (request.temperature !== 0) return undefined;
  const shape = JSON.stringify({
    messages: request.messages,
    maxTokens: request.maxTokens ?? null,
    tools: request.tools ?? null,
    toolChoice: request.toolChoice ?? null,
    analysis: request.analysis ?? null,
  });
  return createHash('sha256').update(shape).digest('base64url');
}
