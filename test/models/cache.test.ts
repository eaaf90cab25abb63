import { describe, expect, it } from 'vitest';
import { responseCache } from '../../src/models/cache.js';
import { wrapLanguageModel } from '../../src/models/middleware.js';
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
      yield { type: 'finish', finishReason: r.finishReason, usage: r.usage, warnings: [{ type: 'other', message: 'kept with the answer' }] };
    },
  };
  return m;
}

const req = (content: string, temperature?: number, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({ messages: [{ role: 'user', content }], ...(temperature !== undefined ? { temperature } : {}), ...extra });
const parts = async (stream: AsyncIterable<StreamPart>) => {
  const out: StreamPart[] = [];
  for await (const p of stream) out.push(p);
  return out;
};
const joined = (list: StreamPart[]) => list.flatMap((p) => (p.type === 'text-delta' ? [p.delta] : [])).join('');

describe('response cache middleware', () => {
  it('serves repeatable requests (temperature 0, same messages) from memory, streams included', async () => {
    const inner = counting();
    const cache = responseCache({ maxEntries: 10, ttlMs: 60_000 });
    const model = wrapLanguageModel(inner, [cache]);
    const first = await model.doGenerate(req('hi', 0));
    expect(await model.doGenerate(req('hi', 0))).toEqual(first);
    expect(inner.calls).toBe(1);
    const streamed = await parts(model.doStream(req('other', 0)));
    const replayed = await parts(model.doStream(req('other', 0)));
    expect(joined(replayed)).toBe(joined(streamed));
    // The finish part comes back whole, warnings and all.
    expect(replayed.at(-1)).toEqual(streamed.at(-1));
    expect(inner.calls).toBe(2);
    expect(cache.stats()).toEqual({ hits: 2, misses: 2, size: 2 });
  });

  it('never caches requests that are not repeatable, nor counts them, and evicts the least recently used', async () => {
    const inner = counting();
    const cache = responseCache({ maxEntries: 2, ttlMs: 60_000 });
    const model = wrapLanguageModel(inner, [cache]);
    await model.doGenerate(req('hi'));
    await model.doGenerate(req('hi'));
    await model.doGenerate(req('hi', 0.7));
    expect(inner.calls).toBe(3);
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 });
    await model.doGenerate(req('a', 0));
    await model.doGenerate(req('b', 0));
    await model.doGenerate(req('c', 0));
    await model.doGenerate(req('a', 0));
    expect(inner.calls).toBe(7);
  });

  it('keys on the settings and provider options, which change the answer', async () => {
    const inner = counting();
    const model = wrapLanguageModel(inner, [responseCache({ maxEntries: 10, ttlMs: 60_000 })]);
    await model.doGenerate(req('hi', 0));
    await model.doGenerate(req('hi', 0, { maxTokens: 5 }));
    await model.doGenerate(req('hi', 0, { providerOptions: { local: { analysis: { sentiment: 'negative' } } } }));
    await model.doGenerate(req('hi', 0, { providerOptions: { local: { analysis: { sentiment: 'negative' } } } }));
    expect(inner.calls).toBe(3);
  });
});

describe('model middleware', () => {
  it('runs the first middleware outermost, transforms params before the wrappers, and passes an early exit down', async () => {
    const seen: string[] = [];
    let closed = false;
    const inner: LanguageModel = {
      id: 'inner',
      provider: 'test',
      doGenerate: async (r) => ({ text: `t=${r.temperature}`, finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } }),
      async *doStream() {
        try {
          yield { type: 'text-delta', delta: 'a' };
          yield { type: 'text-delta', delta: 'b' };
          yield { type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } };
        } finally {
          closed = true;
        }
      },
    };
    const model = wrapLanguageModel(inner, [
      {
        transformParams: ({ params }) => (seen.push('outer params'), { ...params, temperature: 0.5 }),
        wrapGenerate: async ({ doGenerate }) => (seen.push('outer generate'), doGenerate()),
      },
      {
        transformParams: ({ type, params }) => (seen.push(`inner params ${type} t=${params.temperature}`), params),
        wrapGenerate: async ({ doGenerate, model: wrapped }) => (seen.push(`inner generate of ${wrapped.id}`), doGenerate()),
      },
    ]);
    expect(model.id).toBe('inner');
    expect((await model.doGenerate(req('x'))).text).toBe('t=0.5');
    expect(seen).toEqual(['outer params', 'outer generate', 'inner params generate t=0.5', 'inner generate of inner']);
    for await (const part of model.doStream(req('x'))) {
      expect(part).toEqual({ type: 'text-delta', delta: 'a' });
      break;
    }
    expect(closed).toBe(true);
  });
});
