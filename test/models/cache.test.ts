import { describe, expect, it } from 'vitest';
import { CachedModel } from '../../src/models/cache.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';

function counting(): LanguageModel & { calls: number } {
  const m = {
    id: 'count',
    provider: 'test',
    calls: 0,
    async doGenerate(request: GenerateRequest) {
      m.calls++;
      return { text: `answer ${m.calls} to ${request.messages.at(-1)?.content}`, finishReason: 'stop' as const, usage: { inputTokens: 1, outputTokens: 4 } };
    },
    async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
      const r = await m.doGenerate(request);
      for (const w of r.text.split(' ')) yield { type: 'text-delta', delta: `${w} ` };
      yield { type: 'finish', finishReason: r.finishReason, usage: r.usage };
    },
  };
  return m;
}

const req = (content: string, temperature?: number): GenerateRequest => ({ messages: [{ role: 'user', content }], ...(temperature !== undefined ? { temperature } : {}) });
const text = async (parts: AsyncIterable<StreamPart>) => {
  let out = '';
  for await (const p of parts) if (p.type === 'text-delta') out += p.delta;
  return out;
};

describe('response cache', () => {
  it('serves repeatable requests (temperature 0, same messages) from memory, streams included', async () => {
    const inner = counting();
    const model = new CachedModel(inner, { maxEntries: 10, ttlMs: 60_000 });
    const first = await model.doGenerate(req('hi', 0));
    expect(await model.doGenerate(req('hi', 0))).toEqual(first);
    expect(inner.calls).toBe(1);
    const streamed = await text(model.doStream(req('other', 0)));
    expect(await text(model.doStream(req('other', 0)))).toBe(streamed);
    expect(inner.calls).toBe(2);
    expect(model.stats()).toEqual({ hits: 2, misses: 2, size: 2 });
  });

  it('never caches requests that are not repeatable, and evicts the least recently used', async () => {
    const inner = counting();
    const model = new CachedModel(inner, { maxEntries: 2, ttlMs: 60_000 });
    await model.doGenerate(req('hi'));
    await model.doGenerate(req('hi'));
    await model.doGenerate(req('hi', 0.7));
    expect(inner.calls).toBe(3);
    await model.doGenerate(req('a', 0));
    await model.doGenerate(req('b', 0));
    await model.doGenerate(req('c', 0));
    await model.doGenerate(req('a', 0));
    expect(inner.calls).toBe(7);
  });
});
