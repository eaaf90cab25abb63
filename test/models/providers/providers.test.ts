import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelError, type ModelErrorClass } from '../../../src/models/errors.js';
import { createAnthropicModel } from '../../../src/models/providers/anthropic.js';
import { createGeminiModel } from '../../../src/models/providers/gemini.js';
import { retryAfterMs } from '../../../src/models/providers/http.js';
import { createOllamaModel } from '../../../src/models/providers/ollama.js';
import { createOpenAIModel } from '../../../src/models/providers/openai.js';
import { lines, ndjsonLines, sseEvents } from '../../../src/models/providers/stream-parsers.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../../src/models/types.js';
import { eventually } from '../../support/index.js';
import { FakeLlm, type FakeFault, type RecordedRequest } from '../../support/fake-llm.js';

type Model = LanguageModel & { close(): Promise<void> };

interface ModelSettings {
  baseUrl: string;
  apiKey: string;
  headersTimeoutMs?: number;
  headers?: Record<string, string>;
}

interface ProviderCase {
  name: string;
  make(settings: ModelSettings): Model;
  /** The vendor's own URL layout under the fake's origin. */
  baseUrl(fakeUrl: string): string;
  /** Asserts the recorded request is what the vendor's API documents. */
  checkRequest(req: RecordedRequest, stream: boolean): void;
}

const USER_TEXT = 'héllo there ☃';
// System first, then a conversation: each vendor places the system text its own way.
const REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
    { role: 'user', content: USER_TEXT },
  ],
  maxTokens: 64,
  temperature: 0.2,
};
const REPLY = FakeLlm.reply(USER_TEXT);
// The fake counts words: 2 + 1 + 1 + 3 in, one per streamed piece out.
const USAGE = { inputTokens: 7, outputTokens: 4 };
const KEY = 'sk-test-key';

const CASES: ProviderCase[] = [
  {
    name: 'openai',
    make: (s) => createOpenAIModel({ ...s, model: 'gpt-test' }),
    baseUrl: (url) => `${url}/v1`,
    checkRequest(req, stream) {
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/v1/chat/completions');
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.body).toEqual({
        model: 'gpt-test',
        messages: REQUEST.messages.map((m) => ({ role: m.role, content: m.content })),
        max_completion_tokens: 64,
        temperature: 0.2,
        ...(stream && { stream: true, stream_options: { include_usage: true } }),
      });
    },
  },
  {
    name: 'openai-compatible',
    make: (s) => createOpenAIModel({ ...s, model: 'qwen-test', provider: 'openai-compatible' }),
    baseUrl: (url) => `${url}/v1/`,
    checkRequest(req, stream) {
      expect(req.path).toBe('/v1/chat/completions');
      // Compatible servers (vLLM, llama.cpp) know max_tokens, not OpenAI's newer field.
      expect(req.body).toEqual({
        model: 'qwen-test',
        messages: REQUEST.messages.map((m) => ({ role: m.role, content: m.content })),
        max_tokens: 64,
        temperature: 0.2,
        ...(stream && { stream: true, stream_options: { include_usage: true } }),
      });
    },
  },
  {
    name: 'anthropic',
    make: (s) => createAnthropicModel({ ...s, model: 'claude-test' }),
    baseUrl: (url) => url,
    checkRequest(req, stream) {
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/v1/messages');
      expect(req.headers['x-api-key']).toBe(KEY);
      expect(req.headers['anthropic-version']).toBe('2023-06-01');
      expect(req.headers.authorization).toBeUndefined();
      expect(req.body).toEqual({
        model: 'claude-test',
        max_tokens: 64,
        system: 'Be brief.',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
          { role: 'user', content: USER_TEXT },
        ],
        temperature: 0.2,
        ...(stream && { stream: true }),
      });
    },
  },
  {
    name: 'gemini',
    make: (s) => createGeminiModel({ ...s, model: 'gemini-test' }),
    baseUrl: (url) => url,
    checkRequest(req, stream) {
      expect(req.method).toBe('POST');
      expect(req.path).toBe(stream ? '/v1beta/models/gemini-test:streamGenerateContent' : '/v1beta/models/gemini-test:generateContent');
      expect(req.query).toEqual(stream ? { alt: 'sse' } : {});
      expect(req.headers['x-goog-api-key']).toBe(KEY);
      expect(req.body).toEqual({
        contents: [
          { role: 'user', parts: [{ text: 'hi' }] },
          { role: 'model', parts: [{ text: 'hello' }] },
          { role: 'user', parts: [{ text: USER_TEXT }] },
        ],
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        generationConfig: { maxOutputTokens: 64, temperature: 0.2 },
      });
    },
  },
  {
    name: 'ollama',
    make: (s) => createOllamaModel({ ...s, model: 'llama-test' }),
    baseUrl: (url) => url,
    checkRequest(req, stream) {
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/api/chat');
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(req.body).toEqual({
        model: 'llama-test',
        messages: REQUEST.messages.map((m) => ({ role: m.role, content: m.content })),
        stream,
        options: { num_predict: 64, temperature: 0.2 },
      });
    },
  },
];

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** The ModelError a call failed with (and, for a stream, the parts it yielded first). */
async function failure(call: () => Promise<unknown>): Promise<ModelError> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error('expected the call to fail');
}

async function streamFailure(model: Model, request: GenerateRequest = REQUEST): Promise<{ error: ModelError; parts: StreamPart[] }> {
  const parts: StreamPart[] = [];
  const error = await failure(async () => {
    for await (const part of model.doStream(request)) parts.push(part);
  });
  return { error, parts };
}

function textOf(parts: StreamPart[]): string {
  return parts.map((p) => (p.type === 'text-delta' ? p.delta : '')).join('');
}

let fake: FakeLlm;

beforeAll(async () => {
  fake = await FakeLlm.start();
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

describe.each(CASES)('$name provider', (c) => {
  let model: Model;

  beforeAll(() => {
    model = c.make({ baseUrl: c.baseUrl(fake.url), apiKey: KEY });
  });

  afterAll(async () => {
    await model.close();
  });

  it('generates a whole reply in the vendor format', async () => {
    const result = await model.doGenerate(REQUEST);
    expect(result).toEqual({ text: REPLY, finishReason: 'stop', usage: USAGE });
    expect(fake.requests).toHaveLength(1);
    c.checkRequest(fake.requests[0] as RecordedRequest, false);
  });

  it('streams text deltas then exactly one finish part', async () => {
    const parts = await collect(model.doStream(REQUEST));
    const deltas = parts.filter((p) => p.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(textOf(parts)).toBe(REPLY);
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: USAGE });
    expect(parts.filter((p) => p.type === 'finish')).toHaveLength(1);
    c.checkRequest(fake.requests[0] as RecordedRequest, true);
  });

  it('maps a reply cut by the token budget to finishReason length', async () => {
    const request = { ...REQUEST, maxTokens: 2 };
    expect(await model.doGenerate(request)).toMatchObject({ text: 'echo: héllo ', finishReason: 'length' });
    const parts = await collect(model.doStream(request));
    expect(textOf(parts)).toBe('echo: héllo ');
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'length', usage: { outputTokens: 2 } });
  });

  it('passes the first token on after a slow start', async () => {
    fake.enqueueFault({ type: 'slow-first-token', ms: 50 });
    expect((await model.doGenerate(REQUEST)).text).toBe(REPLY);
    fake.enqueueFault({ type: 'slow-first-token', ms: 50 });
    expect(textOf(await collect(model.doStream(REQUEST)))).toBe(REPLY);
  });

  const statusFaults: Array<[string, FakeFault, ModelErrorClass]> = [
    ['401', { type: 'status', status: 401 }, 'auth'],
    ['403', { type: 'status', status: 403 }, 'auth'],
    ['500', { type: 'status', status: 500 }, 'server'],
    ['503', { type: 'status', status: 503 }, 'server'],
    ['a plain 400', { type: 'status', status: 400 }, 'bad_response'],
    ['404 (unknown model)', { type: 'status', status: 404 }, 'bad_response'],
    ['the vendor context-length 400', { type: 'context-length' }, 'context_length'],
    ['a malformed body', { type: 'malformed' }, 'bad_response'],
    ['a body cut short', { type: 'cut', afterChunks: 2 }, 'bad_response'],
    // Vendors report overloads this way: a server error, worth a retry.
    ['an error after 200', { type: 'error-event' }, 'server'],
  ];

  it.each(statusFaults)('classes %s as %s in doGenerate and doStream', async (_what, fault, errorClass) => {
    fake.enqueueFault(fault);
    const generateError = await failure(() => model.doGenerate(REQUEST));
    expect(generateError.errorClass).toBe(errorClass);
    expect(generateError.provider).toBe(model.provider);
    fake.enqueueFault(fault);
    const { error, parts } = await streamFailure(model);
    expect(error.errorClass).toBe(errorClass);
    expect(parts.some((p) => p.type === 'finish')).toBe(false);
  });

  it('passes on the deltas of a stream cut short, then fails it', async () => {
    fake.enqueueFault({ type: 'cut', afterChunks: 2 });
    const { error, parts } = await streamFailure(model);
    expect(error.errorClass).toBe('bad_response');
    expect(textOf(parts)).toBe('echo: héllo ');
  });

  it('classes 429 as rate_limit with Retry-After seconds', async () => {
    fake.enqueueFault({ type: 'rate-limit', retryAfterSeconds: 7 });
    const error = await failure(() => model.doGenerate(REQUEST));
    expect(error.errorClass).toBe('rate_limit');
    expect(error.retryAfterMs).toBe(7000);
    fake.enqueueFault({ type: 'rate-limit', retryAfterSeconds: 3 });
    const streamed = await streamFailure(model);
    expect(streamed.error).toMatchObject({ errorClass: 'rate_limit', retryAfterMs: 3000 });
  });

  it('reads a Retry-After HTTP date', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    fake.enqueueFault({ type: 'status', status: 429, headers: { 'retry-after': at } });
    const error = await failure(() => model.doGenerate(REQUEST));
    expect(error.errorClass).toBe('rate_limit');
    // HTTP dates have whole seconds.
    expect(error.retryAfterMs).toBeGreaterThan(28_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('ends a hanging call when the signal aborts', async () => {
    const controller = new AbortController();
    fake.enqueueFault({ type: 'hang' });
    const generate = failure(() => model.doGenerate({ ...REQUEST, signal: controller.signal }));
    await eventually(() => fake.requests.length, (n) => n === 1, 5_000, 'the request to arrive');
    controller.abort();
    expect((await generate).errorClass).toBe('aborted');

    const streamController = new AbortController();
    fake.enqueueFault({ type: 'hang' });
    const stream = streamFailure(model, { ...REQUEST, signal: streamController.signal });
    await eventually(() => fake.requests.length, (n) => n === 2, 5_000, 'the stream request to arrive');
    streamController.abort();
    expect((await stream).error.errorClass).toBe('aborted');
  });

  it('parses a stream incrementally and ends a stalled one when the signal aborts', async () => {
    const controller = new AbortController();
    fake.enqueueFault({ type: 'stall', afterChunks: 2 });
    const iterator = model.doStream({ ...REQUEST, signal: controller.signal })[Symbol.asyncIterator]();
    // Two deltas arrive while the server holds the response open: nothing waits for the end.
    expect(await iterator.next()).toEqual({ done: false, value: { type: 'text-delta', delta: 'echo: ' } });
    expect(await iterator.next()).toEqual({ done: false, value: { type: 'text-delta', delta: 'héllo ' } });
    const third = failure(() => iterator.next());
    controller.abort();
    expect((await third).errorClass).toBe('aborted');
  });

  it('fails at once for a signal already aborted', async () => {
    const error = await failure(() => model.doGenerate({ ...REQUEST, signal: AbortSignal.abort() }));
    expect(error.errorClass).toBe('aborted');
    expect((await streamFailure(model, { ...REQUEST, signal: AbortSignal.abort() })).error.errorClass).toBe('aborted');
  });

  it('classes a server that does not answer in time as timeout', async () => {
    const impatient = c.make({ baseUrl: c.baseUrl(fake.url), apiKey: KEY, headersTimeoutMs: 100 });
    try {
      fake.enqueueFault({ type: 'hang' });
      expect((await failure(() => impatient.doGenerate(REQUEST))).errorClass).toBe('timeout');
    } finally {
      await impatient.close();
    }
  });

  it('classes an unreachable server as server', async () => {
    const gone = await FakeLlm.start();
    const url = gone.url;
    await gone.close();
    const unreachable = c.make({ baseUrl: c.baseUrl(url), apiKey: KEY });
    try {
      expect((await failure(() => unreachable.doGenerate(REQUEST))).errorClass).toBe('server');
      expect((await streamFailure(unreachable)).error.errorClass).toBe('server');
    } finally {
      await unreachable.close();
    }
  });

  it('classes a connection the server drops, before or during the reply, as server', async () => {
    const dropping = await FakeLlm.start();
    const dropped = c.make({ baseUrl: c.baseUrl(dropping.url), apiKey: KEY });
    try {
      dropping.enqueueFault({ type: 'hang' });
      const generate = failure(() => dropped.doGenerate(REQUEST));
      // One request at a time, so each meets its own fault.
      await eventually(() => dropping.requests.length, (n) => n === 1, 5_000, 'the request to arrive');
      dropping.enqueueFault({ type: 'stall', afterChunks: 1 });
      const iterator = dropped.doStream(REQUEST)[Symbol.asyncIterator]();
      expect(await iterator.next()).toMatchObject({ value: { type: 'text-delta' } });
      const rest = failure(() => iterator.next());
      await dropping.close();
      expect((await generate).errorClass).toBe('server');
      expect((await rest).errorClass).toBe('server');
    } finally {
      await dropped.close();
    }
  });

  it('classes the vendor refusing the key as auth', async () => {
    const guarded = await FakeLlm.start({ apiKey: 'the-right-key' });
    const wrong = c.make({ baseUrl: c.baseUrl(guarded.url), apiKey: KEY });
    const right = c.make({ baseUrl: c.baseUrl(guarded.url), apiKey: 'the-right-key' });
    try {
      expect((await failure(() => wrong.doGenerate(REQUEST))).errorClass).toBe('auth');
      expect((await right.doGenerate(REQUEST)).text).toBe(REPLY);
    } finally {
      await Promise.all([wrong.close(), right.close(), guarded.close()]);
    }
  });
});

describe('vendor specifics', () => {
  it('openai: takes a fault from the x-fake-fault header and lists models', async () => {
    const model = createOpenAIModel({ baseUrl: `${fake.url}/v1`, model: 'gpt-test', headers: { 'x-fake-fault': JSON.stringify({ type: 'status', status: 503 }) } });
    const plain = createOpenAIModel({ baseUrl: `${fake.url}/v1`, model: 'gpt-test', provider: 'openai-compatible' });
    try {
      expect((await failure(() => model.doGenerate(REQUEST))).errorClass).toBe('server');
      expect(await plain.listModels()).toEqual(['fake-model']);
      expect(fake.lastRequest).toMatchObject({ method: 'GET', path: '/v1/models' });
      expect(fake.lastRequest?.headers.authorization).toBeUndefined();
      expect(plain.id).toBe('openai-compatible/gpt-test');
    } finally {
      await Promise.all([model.close(), plain.close()]);
    }
  });

  it('openai: a llama.cpp-style context error, said only in words, is context_length', async () => {
    const model = createOpenAIModel({ baseUrl: `${fake.url}/v1`, model: 'local', provider: 'openai-compatible' });
    try {
      fake.enqueueFault({ type: 'status', status: 400, body: { error: { code: 400, message: 'the request exceeds the available context size, try increasing it', type: 'exceed_context_size_error' } } });
      expect((await failure(() => model.doGenerate(REQUEST))).errorClass).toBe('context_length');
      fake.enqueueFault({ type: 'status', status: 400, body: { object: 'error', message: "This model's maximum context length is 4096 tokens.", type: 'BadRequestError', code: 400 } });
      expect((await failure(() => model.doGenerate(REQUEST))).errorClass).toBe('context_length');
    } finally {
      await model.close();
    }
  });

  it('anthropic: 529 overloaded is server; a default max_tokens is always sent', async () => {
    const model = createAnthropicModel({ baseUrl: fake.url, apiKey: KEY, model: 'claude-test' });
    try {
      fake.enqueueFault({ type: 'status', status: 529 });
      expect((await failure(() => model.doGenerate(REQUEST))).errorClass).toBe('server');
      await model.doGenerate({ messages: [{ role: 'user', content: 'hi' }] });
      expect(fake.lastRequest?.body).toEqual({ model: 'claude-test', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] });
    } finally {
      await model.close();
    }
  });

  it('anthropic: a temperature above its range of 0..1 is sent as 1, with a warning, streamed or not', async () => {
    const model = createAnthropicModel({ baseUrl: fake.url, apiKey: KEY, model: 'claude-test' });
    try {
      const warning = { type: 'unsupported-setting', setting: 'temperature', details: 'Anthropic accepts 0..1; 1.5 was sent as 1' };
      expect((await model.doGenerate({ ...REQUEST, temperature: 1.5 })).warnings).toEqual([warning]);
      expect(fake.lastRequest?.body).toMatchObject({ temperature: 1 });
      expect((await collect(model.doStream({ ...REQUEST, temperature: 1.5 }))).at(-1)).toMatchObject({ type: 'finish', warnings: [warning] });
      expect((await model.doGenerate({ ...REQUEST, temperature: 0.7 })).warnings).toBeUndefined();
    } finally {
      await model.close();
    }
  });

  it('ollama: a tool choice that forces a call cannot be honoured (it has no tool_choice), and says so', async () => {
    const model = createOllamaModel({ baseUrl: fake.url, model: 'llama-test' });
    try {
      const tools = [{ name: 'lookup', parameters: { type: 'object' } }];
      expect((await model.doGenerate({ ...REQUEST, tools, toolChoice: 'required' })).warnings).toEqual([{ type: 'unsupported-setting', setting: 'toolChoice', details: expect.any(String) }]);
      expect((await model.doGenerate({ ...REQUEST, tools, toolChoice: 'auto' })).warnings).toBeUndefined();
    } finally {
      await model.close();
    }
  });

  it('gemini: a 429 without Retry-After takes the wait from RetryInfo; consecutive turns merge', async () => {
    const model = createGeminiModel({ baseUrl: fake.url, apiKey: KEY, model: 'models/gemini-test' });
    try {
      fake.enqueueFault({ type: 'status', status: 429, body: { error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12s' }] } } });
      expect(await failure(() => model.doGenerate(REQUEST))).toMatchObject({ errorClass: 'rate_limit', retryAfterMs: 12_000 });
      await model.doGenerate({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] });
      expect(fake.lastRequest?.path).toBe('/v1beta/models/gemini-test:generateContent');
      expect(fake.lastRequest?.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'a' }, { text: 'b' }] }] });
    } finally {
      await model.close();
    }
  });

  it('ollama: without a key sends no authorization, and asks explicitly not to stream', async () => {
    const model = createOllamaModel({ baseUrl: fake.url, model: 'llama-test', keepAlive: '10m' });
    try {
      await model.doGenerate({ messages: [{ role: 'user', content: 'hi' }] });
      expect(fake.lastRequest?.headers.authorization).toBeUndefined();
      expect(fake.lastRequest?.body).toEqual({ model: 'llama-test', messages: [{ role: 'user', content: 'hi' }], stream: false, keep_alive: '10m' });
    } finally {
      await model.close();
    }
  });
});

describe('stream parsers', () => {
  async function* chunks(...parts: Array<string | Uint8Array>): AsyncGenerator<string | Uint8Array> {
    yield* parts;
  }

  it('splits lines across chunk boundaries, CRLF split between chunks, and UTF-8 split mid-character', async () => {
    const snowman = Buffer.from('☃');
    const out: string[] = [];
    for await (const line of lines(chunks('a\r', '\nb', Buffer.concat([Buffer.from('\n'), snowman.subarray(0, 1)]), snowman.subarray(1), '\rc'))) out.push(line);
    expect(out).toEqual(['a', 'b', '☃', 'c']);
  });

  it('parses SSE: named events, multi-line data, comments, a missing space, a last event without its blank line', async () => {
    const out = [];
    for await (const event of sseEvents(chunks(': keep-alive\n\nevent: ping\ndata: {}\n\ndata: one\ndata:two\n\nid: 1\n\ndata: last'))) out.push(event);
    expect(out).toEqual([
      { event: 'ping', data: '{}' },
      { event: 'message', data: 'one\ntwo' },
      { event: 'message', data: 'last' },
    ]);
  });

  it('parses NDJSON, skipping blank lines', async () => {
    const out: string[] = [];
    for await (const line of ndjsonLines(chunks('{"a":1}\n\n{"b"', ':2}\n'))) out.push(line);
    expect(out).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
