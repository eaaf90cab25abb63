import { describe, it, type ExpectStatic } from 'vitest';
import { ModelError, type ModelErrorClass } from '../../src/models/errors.js';
import { createAnthropicModel } from '../../src/models/providers/anthropic.js';
import { createGeminiModel } from '../../src/models/providers/gemini.js';
import { createOllamaModel } from '../../src/models/providers/ollama.js';
import { createOpenAIModel } from '../../src/models/providers/openai.js';
import { ModelRouter, type RouterEvent, type RouterOptions } from '../../src/models/router.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';
import { FakeLlm, type FakeFault, type VendorName } from '../support/fake-llm.js';

/**
 * Fault conformance: every fault the fake LLM can produce, for every vendor, through the
 * router's doGenerate and doStream over real HTTP, must end in the router's documented outcome
 * (retry on the same deployment, fallback to the next, or a clear classed error) within the
 * configured time budget.
 *
 * Each case gets its own pair of fakes (a primary deployment `a` and a fallback `b`), its own
 * providers and its own router, so cases share nothing and run concurrently.
 */

type Model = LanguageModel & { close(): Promise<void> };
type Mode = 'generate' | 'stream';

const VENDORS: VendorName[] = ['openai', 'anthropic', 'gemini', 'ollama'];
const MODES: Mode[] = ['generate', 'stream'];

const KEY = 'sk-conformance';
const WRONG_KEY = 'sk-wrong';

const BUDGET = { totalMs: 2_000, firstTokenMs: 300, chunkMs: 300 };
const OPTIONS: RouterOptions = {
  attemptsPerDeployment: 2,
  maxAttempts: 4,
  backoffMs: 10,
  maxBackoffMs: 40,
  maxRetryAfterMs: 1_500,
  cooldownAfter: 3,
  cooldownMs: 30_000,
  timeouts: BUDGET,
};
/** Every call must end within the total budget plus this (scheduling on a loaded 2-core box). */
const MARGIN_MS = 750;
/** Timers may fire a little early by performance.now()'s reckoning. */
const TOLERANCE_MS = 50;
/** A call that must not wait for anything (no Retry-After, no timeout) ends well within this. */
const PROMPT_MS = 1_000;

const USER_TEXT = 'are you there';
const REPLY = FakeLlm.reply(USER_TEXT);
const REQUEST: GenerateRequest = { messages: [{ role: 'user', content: USER_TEXT }] };

function makeModel(vendor: VendorName, fakeUrl: string, apiKey: string, model: string): Model {
  switch (vendor) {
    case 'openai':
      return createOpenAIModel({ baseUrl: `${fakeUrl}/v1`, apiKey, model });
    case 'anthropic':
      return createAnthropicModel({ baseUrl: fakeUrl, apiKey, model });
    case 'gemini':
      return createGeminiModel({ baseUrl: fakeUrl, apiKey, model });
    case 'ollama':
      return createOllamaModel({ baseUrl: fakeUrl, apiKey, model });
  }
}

interface Rig {
  a: FakeLlm;
  b: FakeLlm;
  router: ModelRouter;
  events: RouterEvent[];
  /** `a:server`, `b:ok`, ... for each attempt event, in order. */
  attempts(): string[];
  cooldowns(): string[];
  close(): Promise<void>;
}

interface RigOptions {
  /** Which deployments call with a key their fake refuses. */
  badKey?: 'a' | 'both';
  options?: Partial<RouterOptions>;
}

/** Two fakes that both want KEY, a primary deployment on the first and a fallback on the second. */
async function rig(vendor: VendorName, { badKey, options }: RigOptions = {}): Promise<Rig> {
  const [a, b] = await Promise.all([FakeLlm.start({ apiKey: KEY }), FakeLlm.start({ apiKey: KEY })]);
  const primary = makeModel(vendor, a.url, badKey ? WRONG_KEY : KEY, 'primary-model');
  const fallback = makeModel(vendor, b.url, badKey === 'both' ? WRONG_KEY : KEY, 'fallback-model');
  const router = new ModelRouter(
    'conformance',
    [
      { id: 'a', model: primary, priority: 0 },
      { id: 'b', model: fallback, priority: 1 },
    ],
    { ...OPTIONS, ...options },
  );
  const events: RouterEvent[] = [];
  router.onEvent((e) => events.push(e));
  return {
    a,
    b,
    router,
    events,
    attempts: () => events.flatMap((e) => (e.type === 'attempt' ? [`${e.deployment}:${e.ok ? 'ok' : e.errorClass}`] : [])),
    cooldowns: () => events.flatMap((e) => (e.type === 'cooldown' ? [e.deployment] : [])),
    async close() {
      // The fakes first: closing them ends any response still hanging or stalled.
      await Promise.all([a.close(), b.close()]);
      await Promise.all([primary.close(), fallback.close()]);
    },
  };
}

interface Outcome {
  /** The error the call failed with, or undefined when it succeeded. */
  error: unknown;
  /** The reply's text (for a failed stream: the deltas that reached the caller first). */
  text: string;
  /** Finish parts a stream yielded (a generate call that succeeded counts as one). */
  finishes: number;
  elapsedMs: number;
}

/** Awaiting the call is the synchronisation; the clock only bounds how long it took. */
async function call(router: ModelRouter, mode: Mode): Promise<Outcome> {
  const started = performance.now();
  let text = '';
  let finishes = 0;
  try {
    if (mode === 'generate') {
      const result = await router.doGenerate(REQUEST);
      text = result.text;
      if (result.finishReason === 'stop') finishes++;
    } else {
      const parts: StreamPart[] = [];
      for await (const part of router.doStream(REQUEST)) {
        parts.push(part);
        if (part.type === 'text-delta') text += part.delta;
        if (part.type === 'finish') finishes++;
      }
      // Exactly one finish part, and it is the last one.
      if (finishes > 0 && parts.at(-1)?.type !== 'finish') finishes = -1;
    }
    return { error: undefined, text, finishes, elapsedMs: performance.now() - started };
  } catch (error) {
    return { error, text, finishes, elapsedMs: performance.now() - started };
  }
}

/** What must happen for one fault in one mode. */
interface Expected {
  /** `success` (the whole reply, once), or the class of the clear error the call must fail with. */
  outcome: 'success' | ModelErrorClass;
  /** For a failed stream: whether text reached the caller before the failure. */
  partial?: boolean;
  /** Requests each fake received: [a, b]. */
  requests: [number, number];
  /** The router's attempt events, `deployment:errorClass|ok`; omitted where checked elsewhere. */
  attempts?: string[];
  /** Deployments put in cooldown during the call. */
  cooldown?: string[];
  minMs?: number;
  /** Upper bound on the call; always at most the total budget plus MARGIN_MS. */
  maxMs?: number;
}

function check(expect: ExpectStatic, r: Rig, outcome: Outcome, want: Expected): void {
  if (want.outcome === 'success') {
    expect(outcome.error, 'the call should succeed').toBeUndefined();
    expect(outcome.text).toBe(REPLY);
    expect(outcome.finishes).toBe(1);
  } else {
    expect(outcome.error, 'the call should fail with a ModelError').toBeInstanceOf(ModelError);
    expect(outcome.error).toMatchObject({ errorClass: want.outcome, code: `MODEL_${want.outcome.toUpperCase()}` });
    // Never a silent success: a failed call yields no finish part.
    expect(outcome.finishes).toBe(0);
    if (want.partial) {
      expect(outcome.text).not.toBe('');
      expect(REPLY.startsWith(outcome.text) && outcome.text !== REPLY).toBe(true);
    } else {
      expect(outcome.text).toBe('');
    }
  }
  expect([r.a.requests.length, r.b.requests.length], 'requests to [a, b]').toEqual(want.requests);
  if (want.attempts) expect(r.attempts()).toEqual(want.attempts);
  expect(r.cooldowns()).toEqual(want.cooldown ?? []);
  expect(outcome.elapsedMs).toBeGreaterThanOrEqual((want.minMs ?? 0) - (want.minMs ? TOLERANCE_MS : 0));
  expect(outcome.elapsedMs).toBeLessThan(Math.min(want.maxMs ?? Infinity, BUDGET.totalMs + MARGIN_MS));
}

interface Case {
  name: string;
  /** Faults the primary's fake serves, one per request, in order. */
  a?: FakeFault[];
  /** Faults the fallback's fake serves. */
  b?: FakeFault[];
  badKey?: RigOptions['badKey'];
  generate: Expected;
  stream: Expected;
}

const s500: FakeFault = { type: 'status', status: 500 };
const hang: FakeFault = { type: 'hang' };
const TWO_FIRST_TOKEN_TIMEOUTS = 2 * BUDGET.firstTokenMs;
const retriedOnA: Expected = { outcome: 'success', requests: [2, 0], attempts: ['a:server', 'a:ok'] };
const fellBackAfterTwoTimeouts: Expected = { outcome: 'success', requests: [2, 1], attempts: ['a:timeout', 'a:timeout', 'b:ok'], minMs: TWO_FIRST_TOKEN_TIMEOUTS };
/** doGenerate has no first-token timeout: a silent server uses up the whole budget. */
const totalTimeout: Expected = { outcome: 'timeout', requests: [1, 0], attempts: ['a:timeout'], minMs: BUDGET.totalMs };
const fellBackAtOnce = (errorClass: ModelErrorClass): Expected => ({ outcome: 'success', requests: [1, 1], attempts: [`a:${errorClass}`, 'b:ok'], maxMs: PROMPT_MS });

const CASES: Case[] = [
  {
    name: '500 once: retried on the same deployment',
    a: [s500],
    generate: retriedOnA,
    stream: retriedOnA,
  },
  {
    name: '500 on every attempt: falls back after attemptsPerDeployment',
    a: [s500, s500],
    generate: { outcome: 'success', requests: [2, 1], attempts: ['a:server', 'a:server', 'b:ok'] },
    stream: { outcome: 'success', requests: [2, 1], attempts: ['a:server', 'a:server', 'b:ok'] },
  },
  {
    name: '500 on every deployment: a clear server error after maxAttempts',
    a: [s500, s500],
    b: [s500, s500],
    generate: { outcome: 'server', requests: [2, 2], attempts: ['a:server', 'a:server', 'b:server', 'b:server'] },
    stream: { outcome: 'server', requests: [2, 2], attempts: ['a:server', 'a:server', 'b:server', 'b:server'] },
  },
  {
    name: '429 with Retry-After 1 s: waits that long, then retries the same deployment',
    a: [{ type: 'rate-limit', retryAfterSeconds: 1 }],
    generate: { outcome: 'success', requests: [2, 0], attempts: ['a:rate_limit', 'a:ok'], minMs: 1_000 },
    stream: { outcome: 'success', requests: [2, 0], attempts: ['a:rate_limit', 'a:ok'], minMs: 1_000 },
  },
  {
    name: '429 with Retry-After 5 s (over maxRetryAfterMs): falls back at once and cools the deployment down',
    a: [{ type: 'rate-limit', retryAfterSeconds: 5 }],
    generate: { ...fellBackAtOnce('rate_limit'), cooldown: ['a'] },
    stream: { ...fellBackAtOnce('rate_limit'), cooldown: ['a'] },
  },
  {
    name: 'hang: times out',
    a: [hang, hang],
    generate: totalTimeout,
    stream: fellBackAfterTwoTimeouts,
  },
  {
    name: 'first token after 1 s (over firstTokenMs)',
    a: [{ type: 'slow-first-token', ms: 1_000 }, { type: 'slow-first-token', ms: 1_000 }],
    // A whole reply within the total budget is a success, however slow its start.
    generate: { outcome: 'success', requests: [1, 0], attempts: ['a:ok'], minMs: 1_000 },
    stream: fellBackAfterTwoTimeouts,
  },
  {
    name: 'first token after 100 ms (within firstTokenMs): answered as is',
    a: [{ type: 'slow-first-token', ms: 100 }],
    generate: { outcome: 'success', requests: [1, 0], attempts: ['a:ok'], minMs: 100, maxMs: PROMPT_MS },
    stream: { outcome: 'success', requests: [1, 0], attempts: ['a:ok'], minMs: 100, maxMs: PROMPT_MS },
  },
  {
    name: 'cut before the first token',
    a: [{ type: 'cut', afterChunks: 0 }],
    generate: fellBackAtOnce('bad_response'),
    stream: fellBackAtOnce('bad_response'),
  },
  {
    name: 'cut after the first token',
    a: [{ type: 'cut', afterChunks: 2 }],
    generate: fellBackAtOnce('bad_response'),
    // Text reached the caller: a clear error, neither a fallback nor a silent success.
    stream: { outcome: 'bad_response', partial: true, requests: [1, 0], maxMs: PROMPT_MS },
  },
  {
    name: 'stall before the first token',
    a: [{ type: 'stall', afterChunks: 0 }, { type: 'stall', afterChunks: 0 }],
    generate: totalTimeout,
    stream: fellBackAfterTwoTimeouts,
  },
  {
    name: 'stall after the first token',
    a: [{ type: 'stall', afterChunks: 2 }],
    generate: totalTimeout,
    stream: { outcome: 'timeout', partial: true, requests: [1, 0], minMs: BUDGET.chunkMs, maxMs: BUDGET.chunkMs + MARGIN_MS },
  },
  {
    // A bad response would be bad again: the router goes to another model without retrying.
    name: 'malformed JSON',
    a: [{ type: 'malformed' }],
    generate: fellBackAtOnce('bad_response'),
    stream: fellBackAtOnce('bad_response'),
  },
  {
    // Vendors report overloads this way: a server error, worth a retry while nothing has reached the caller.
    name: 'error event after a 200',
    a: [{ type: 'error-event' }],
    generate: retriedOnA,
    // The fake sends one delta before the error event: too late to retry, but counted against the deployment.
    stream: { outcome: 'server', partial: true, requests: [1, 0], attempts: ['a:server'], maxMs: PROMPT_MS },
  },
  {
    // Not retried (it cannot help); the documented policy falls back, to a model that may have a larger window.
    name: 'context length: no retry, falls back',
    a: [{ type: 'context-length' }],
    generate: fellBackAtOnce('context_length'),
    stream: fellBackAtOnce('context_length'),
  },
  {
    name: 'context length on every deployment: a clear context_length error',
    a: [{ type: 'context-length' }],
    b: [{ type: 'context-length' }],
    generate: { outcome: 'context_length', requests: [1, 1], attempts: ['a:context_length', 'b:context_length'], maxMs: PROMPT_MS },
    stream: { outcome: 'context_length', requests: [1, 1], attempts: ['a:context_length', 'b:context_length'], maxMs: PROMPT_MS },
  },
  {
    // A real refusal of the key: 401 at OpenAI, Anthropic and Ollama, 400 API_KEY_INVALID at Gemini.
    name: 'bad API key: auth, no retry, cooldown, falls back',
    badKey: 'a',
    generate: { ...fellBackAtOnce('auth'), cooldown: ['a'] },
    stream: { ...fellBackAtOnce('auth'), cooldown: ['a'] },
  },
  {
    name: 'bad API key on every deployment: a clear auth error',
    badKey: 'both',
    generate: { outcome: 'auth', requests: [1, 1], attempts: ['a:auth', 'b:auth'], cooldown: ['a', 'b'], maxMs: PROMPT_MS },
    stream: { outcome: 'auth', requests: [1, 1], attempts: ['a:auth', 'b:auth'], cooldown: ['a', 'b'], maxMs: PROMPT_MS },
  },
];

describe.each(VENDORS)('%s through the router', (vendor) => {
  describe.each(MODES)('%s', (mode) => {
    // `%s` of the name, not `$name`: vitest clips interpolated object fields to 40 characters.
    it.concurrent.for(CASES.map((c) => [c.name, c] as const))('%s', async ([, c], { expect }) => {
      const r = await rig(vendor, { badKey: c.badKey });
      try {
        for (const fault of c.a ?? []) r.a.enqueueFault(fault);
        for (const fault of c.b ?? []) r.b.enqueueFault(fault);
        check(expect, r, await call(r.router, mode), c[mode]);
      } finally {
        await r.close();
      }
    });
  });
});

describe.each(VENDORS)('%s deployment health', (vendor) => {
  it.concurrent.for(MODES)('%s: cooldown after cooldownAfter consecutive failures; the cooling deployment is skipped, then tried last', async (mode, { expect }) => {
    const r = await rig(vendor, { options: { attemptsPerDeployment: 1, cooldownAfter: 2 } });
    try {
      r.a.enqueueFault(s500);
      r.a.enqueueFault(s500);
      const within = (o: Outcome) => expect(o.elapsedMs).toBeLessThan(BUDGET.totalMs + MARGIN_MS);

      const first = await call(r.router, mode);
      expect(first.error).toBeUndefined();
      within(first);
      expect(r.cooldowns()).toEqual([]);
      expect(r.router.stats().find((s) => s.id === 'a')).toMatchObject({ calls: 1, failures: 1, consecutiveFailures: 1, coolingDownUntil: null });

      const second = await call(r.router, mode);
      expect(second.error).toBeUndefined();
      within(second);
      const cooldown = r.events.find((e) => e.type === 'cooldown');
      expect(cooldown).toMatchObject({ type: 'cooldown', deployment: 'a', reason: expect.stringMatching(/^server: /) });
      expect((cooldown as { untilMs: number }).untilMs).toBeGreaterThan(Date.now() + OPTIONS.cooldownMs - 5_000);

      // Cooling down: straight to the fallback, without touching the primary's server.
      const third = await call(r.router, mode);
      expect(third).toMatchObject({ error: undefined, text: REPLY, finishes: 1 });
      within(third);
      expect([r.a.requests.length, r.b.requests.length]).toEqual([2, 3]);
      expect(r.attempts()).toEqual(['a:server', 'b:ok', 'a:server', 'b:ok', 'b:ok']);
      const [a, b] = r.router.stats();
      expect(a).toMatchObject({ id: 'a', calls: 2, failures: 2, consecutiveFailures: 2 });
      expect(a?.coolingDownUntil).toBeGreaterThan(Date.now());
      expect(b).toMatchObject({ id: 'b', calls: 3, failures: 0, consecutiveFailures: 0, coolingDownUntil: null });
      expect(b?.usage.outputTokens).toBeGreaterThan(0);

      // Cooling, not removed: tried last when the fallback fails, and healthy again once it answers.
      r.b.enqueueFault(s500);
      const fourth = await call(r.router, mode);
      expect(fourth).toMatchObject({ error: undefined, text: REPLY, finishes: 1 });
      within(fourth);
      expect(r.attempts().slice(5)).toEqual(['b:server', 'a:ok']);
      expect(r.router.stats()[0]).toMatchObject({ id: 'a', consecutiveFailures: 0, coolingDownUntil: null });
    } finally {
      await r.close();
    }
  });

  const midStream: Array<{ name: string; fault: FakeFault; errorClass: ModelErrorClass }> = [
    { name: 'cut', fault: { type: 'cut', afterChunks: 2 }, errorClass: 'bad_response' },
    { name: 'stall', fault: { type: 'stall', afterChunks: 2 }, errorClass: 'timeout' },
  ];

  it.concurrent.for(midStream.map((m) => [m.name, m] as const))('streams that %s after the first token count as failures and cool the deployment down', async ([, { fault, errorClass }], { expect }) => {
    const r = await rig(vendor, { options: { attemptsPerDeployment: 1, cooldownAfter: 2 } });
    try {
      r.a.enqueueFault(fault);
      r.a.enqueueFault(fault);
      for (let i = 0; i < 2; i++) {
        const failed = await call(r.router, 'stream');
        expect(failed.error).toMatchObject({ errorClass });
        expect(failed.text).not.toBe('');
        expect(failed.elapsedMs).toBeLessThan(BUDGET.totalMs + MARGIN_MS);
      }
      expect(r.b.requests).toHaveLength(0);
      // Both calls failed on a: its health must say so, or a deployment that breaks every
      // stream after the first token stays first in line forever.
      expect.soft(r.router.stats()[0]).toMatchObject({ id: 'a', failures: 2, consecutiveFailures: 2 });
      expect.soft(r.cooldowns()).toEqual(['a']);
      const third = await call(r.router, 'stream');
      expect.soft(third).toMatchObject({ error: undefined, text: REPLY, finishes: 1 });
      expect.soft([r.a.requests.length, r.b.requests.length], 'the third call goes to the fallback').toEqual([2, 1]);
    } finally {
      await r.close();
    }
  });
});
