import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/models/errors.js';
import { ModelRouter, type RouterEvent, type RouterOptions } from '../../src/models/router.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';

/** What a scripted model does on each call, in order; the last step repeats. */
type Step = 'ok' | ModelError | { hang: true } | { cutAfter: number } | { firstTokenAfterMs: number };

function scripted(id: string, steps: Step[]): LanguageModel & { calls: number } {
  let calls = 0;
  const step = () => steps[Math.min(calls++, steps.length - 1)] as Step;
  const hang = (signal?: AbortSignal) =>
    new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
  const model = {
    id,
    provider: id,
    get calls() {
      return calls;
    },
    async doGenerate(request: GenerateRequest) {
      const s = step();
      if (s instanceof ModelError) throw s;
      if (typeof s === 'object' && 'hang' in s) return hang(request.signal);
      return { text: `${id} says hi`, finishReason: 'stop' as const, usage: { inputTokens: 10, outputTokens: 3 } };
    },
    async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
      const s = step();
      if (s instanceof ModelError) throw s;
      if (typeof s === 'object' && 'hang' in s) await hang(request.signal);
      if (typeof s === 'object' && 'firstTokenAfterMs' in s) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, s.firstTokenAfterMs);
          request.signal?.addEventListener('abort', () => (clearTimeout(t), reject(request.signal?.reason)), { once: true });
        });
      }
      const words = [`${id} `, 'says ', 'hi'];
      for (const [i, delta] of words.entries()) {
        if (typeof s === 'object' && 'cutAfter' in s && i >= s.cutAfter) return;
        yield { type: 'text-delta', delta };
      }
      yield { type: 'finish', finishReason: 'stop', usage: { inputTokens: 10, outputTokens: 3 } };
    },
  };
  return model;
}

function router(deployments: Array<{ id: string; model: LanguageModel; priority?: number; weight?: number; cost?: { input: number; output: number } }>, overrides: Partial<RouterOptions> = {}) {
  const waits: number[] = [];
  let clock = 1_000_000;
  const r = new ModelRouter('default', deployments, {
    attemptsPerDeployment: 3,
    maxAttempts: 6,
    backoffMs: 100,
    maxBackoffMs: 2_000,
    maxRetryAfterMs: 5_000,
    cooldownAfter: 3,
    cooldownMs: 30_000,
    timeouts: { totalMs: 60_000, firstTokenMs: 60_000, chunkMs: 60_000 },
    random: () => 0.5,
    now: () => clock,
    // Waiting is recorded and the clock moved: no real sleeping in these tests.
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    ...overrides,
  });
  const events: RouterEvent[] = [];
  r.onEvent((e) => events.push(e));
  return { r, waits, events, advance: (ms: number) => (clock += ms) };
}

const ask = { messages: [{ role: 'user' as const, content: 'hi' }] };
const collect = async (parts: AsyncIterable<StreamPart>) => {
  const out: StreamPart[] = [];
  for await (const p of parts) out.push(p);
  return out;
};

describe('model router', () => {
  it('answers even when an event listener throws, and reports the listener\'s error', async () => {
    const reported: unknown[] = [];
    const { r } = router([{ id: 'a', model: scripted('a', ['ok']) }], { onListenerError: (err) => reported.push(err) });
    r.onEvent(() => {
      throw new Error('metrics bug');
    });
    const seen: RouterEvent[] = [];
    r.onEvent((e) => seen.push(e));
    expect((await r.doGenerate(ask)).text).toBe('a says hi');
    expect((await collect(r.doStream(ask))).at(-1)).toMatchObject({ type: 'finish' });
    expect(reported).toEqual([new Error('metrics bug'), new Error('metrics bug')]);
    // The listeners after the throwing one still hear every event.
    expect(seen).toHaveLength(2);
  });

  it('retries a server error with exponential backoff, then answers', async () => {
    const a = scripted('a', [new ModelError('server', 'a', 'HTTP 500'), new ModelError('server', 'a', 'HTTP 502'), 'ok']);
    const { r, waits } = router([{ id: 'a', model: a }]);
    expect((await r.doGenerate(ask)).text).toBe('a says hi');
    expect(a.calls).toBe(3);
    expect(waits).toEqual([100, 200]);
  });

  it('honours Retry-After, and falls back instead when it is longer than the cap', async () => {
    const a = scripted('a', [new ModelError('rate_limit', 'a', '429', 1_500), 'ok']);
    const short = router([{ id: 'a', model: a }]);
    expect((await short.r.doGenerate(ask)).text).toBe('a says hi');
    expect(short.waits).toEqual([1_500]);

    const slow = scripted('slow', [new ModelError('rate_limit', 'slow', '429', 60_000)]);
    const b = scripted('b', ['ok']);
    const long = router([{ id: 'slow', model: slow }, { id: 'b', model: b, priority: 1 }]);
    expect((await long.r.doGenerate(ask)).text).toBe('b says hi');
    expect(long.waits).toEqual([]);
    expect(long.events).toContainEqual(expect.objectContaining({ type: 'cooldown', deployment: 'slow' }));
    // While it cools down, the rate-limited deployment is tried last.
    expect((await long.r.doGenerate(ask)).text).toBe('b says hi');
    expect(slow.calls).toBe(1);
  });

  it('falls back at once on errors a retry cannot fix, and fails clearly when every deployment fails', async () => {
    const a = scripted('a', [new ModelError('auth', 'a', 'HTTP 401: invalid key')]);
    const b = scripted('b', [new ModelError('context_length', 'b', 'prompt too long')]);
    const { r, waits } = router([{ id: 'a', model: a }, { id: 'b', model: b, priority: 1 }]);
    await expect(r.doGenerate(ask)).rejects.toMatchObject({ code: 'MODEL_CONTEXT_LENGTH', message: 'b: prompt too long' });
    expect([a.calls, b.calls, waits.length]).toEqual([1, 1, 0]);
  });

  it('keeps one retry budget across deployments', async () => {
    const fail = (id: string) => scripted(id, [new ModelError('server', id, 'HTTP 500')]);
    const a = fail('a');
    const b = fail('b');
    const { r } = router([{ id: 'a', model: a }, { id: 'b', model: b, priority: 1 }], { maxAttempts: 4 });
    await expect(r.doGenerate(ask)).rejects.toMatchObject({ code: 'MODEL_SERVER' });
    expect(a.calls + b.calls).toBe(4);
  });

  it('cools a deployment down after repeated failures and tries it again once the cooldown ends', async () => {
    const a = scripted('a', [new ModelError('server', 'a', '500'), new ModelError('server', 'a', '500'), new ModelError('server', 'a', '500'), 'ok']);
    const b = scripted('b', ['ok']);
    const { r, advance } = router([{ id: 'a', model: a }, { id: 'b', model: b, priority: 1 }]);
    expect((await r.doGenerate(ask)).text).toBe('b says hi');
    expect(r.stats().find((s) => s.id === 'a')?.coolingDownUntil).not.toBeNull();
    expect((await r.doGenerate(ask)).text).toBe('b says hi');
    expect(a.calls).toBe(3);
    advance(30_001);
    expect((await r.doGenerate(ask)).text).toBe('a says hi');
  });

  it('balances a tier by weight', async () => {
    const a = scripted('a', ['ok']);
    const b = scripted('b', ['ok']);
    let n = 0;
    const randoms = [0.1, 0.9, 0.2, 0.95, 0.5];
    const { r } = router([{ id: 'a', model: a, weight: 3 }, { id: 'b', model: b, weight: 1 }], { random: () => randoms[n++ % randoms.length] as number });
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push((await r.doGenerate(ask)).text);
    // 0.1, 0.2 and 0.5 of 4 fall in a's share (weight 3); 0.9 and 0.95 in b's.
    expect(answers.map((t) => t[0])).toEqual(['a', 'b', 'a', 'b', 'a']);
  });

  it('accounts usage and cost per deployment', async () => {
    const a = scripted('a', ['ok']);
    const { r } = router([{ id: 'a', model: a, cost: { input: 1, output: 2 } }]);
    await r.doGenerate(ask);
    await collect(r.doStream(ask));
    expect(r.stats()[0]).toMatchObject({ calls: 2, usage: { inputTokens: 20, outputTokens: 6 }, costUsd: (20 * 1 + 6 * 2) / 1_000_000 });
  });

  it('falls back when a stream fails or stalls before its first token', async () => {
    const a = scripted('a', [{ firstTokenAfterMs: 5_000 }]);
    const b = scripted('b', ['ok']);
    const { r } = router([{ id: 'a', model: a }, { id: 'b', model: b, priority: 1 }], { attemptsPerDeployment: 1, now: Date.now, timeouts: { totalMs: 10_000, firstTokenMs: 50, chunkMs: 1_000 } });
    const parts = await collect(r.doStream(ask));
    expect(parts.map((p) => (p.type === 'text-delta' ? p.delta : p.type)).join('')).toBe('b says hifinish');
  });

  it('fails a stream cut off after its first token instead of falling back or succeeding silently', async () => {
    const a = scripted('a', [{ cutAfter: 2 }]);
    const b = scripted('b', ['ok']);
    const { r } = router([{ id: 'a', model: a }, { id: 'b', model: b, priority: 1 }]);
    const seen: string[] = [];
    await expect((async () => {
      for await (const p of r.doStream(ask)) if (p.type === 'text-delta') seen.push(p.delta);
    })()).rejects.toMatchObject({ code: 'MODEL_BAD_RESPONSE', message: 'a: the stream ended before its final part' });
    expect(seen).toEqual(['a ', 'says ']);
    expect(b.calls).toBe(0);
  });

  it('times out a hanging call within the total budget and aborts the provider', async () => {
    const a = scripted('a', [{ hang: true }]);
    const { r } = router([{ id: 'a', model: a }], { attemptsPerDeployment: 1, maxAttempts: 1, now: Date.now, timeouts: { totalMs: 80, firstTokenMs: 1_000, chunkMs: 1_000 } });
    const started = Date.now();
    await expect(r.doGenerate(ask)).rejects.toMatchObject({ code: 'MODEL_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('stops at once when the caller aborts', async () => {
    const a = scripted('a', [{ hang: true }]);
    const { r } = router([{ id: 'a', model: a }]);
    const controller = new AbortController();
    const pending = r.doGenerate({ ...ask, signal: controller.signal });
    controller.abort(new Error('client went away'));
    await expect(pending).rejects.toMatchObject({ code: 'MODEL_ABORTED' });
    expect(a.calls).toBe(1);
  });
});
