import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelError } from '../../../src/models/errors.js';
import { AnthropicModel } from '../../../src/models/providers/anthropic.js';
import { GeminiModel } from '../../../src/models/providers/gemini.js';
import { OllamaModel } from '../../../src/models/providers/ollama.js';
import { OpenAIModel } from '../../../src/models/providers/openai.js';
import type { ChatMessage, EmbeddingModel, GenerateRequest, LanguageModel, StreamPart, ToolCall } from '../../../src/models/types.js';
import { FakeLlm, type RecordedRequest } from '../../support/fake-llm.js';

/**
 * Tool calls, embeddings and warm-up against the fake's copy of each vendor's wire format:
 * the request must be what the vendor documents, and the vendor's answer must come back as
 * the one shape Pincer uses.
 */

type Closable = { close(): Promise<void> };
const KEY = 'sk-test-key';

const WEATHER = {
  name: 'weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const ARGS = { city: 'Lima' };
const ASK: GenerateRequest = { messages: [{ role: 'user', content: `call weather ${JSON.stringify(ARGS)}` }], tools: [WEATHER], toolChoice: 'auto' };

/** The conversation after the model called the tool: its call, then the tool's result. */
function followUp(call: ToolCall): GenerateRequest {
  const messages: ChatMessage[] = [...ASK.messages, { role: 'assistant', content: '', toolCalls: [call] }, { role: 'tool', toolCallId: call.id, content: '18 degrees' }];
  return { messages, tools: [WEATHER] };
}

interface ToolCase {
  name: string;
  make(url: string): LanguageModel & Closable;
  /** Checks how the request offered the tools, and how it sent back a call and its result. */
  checkOffer(body: any): void;
  checkFollowUp(body: any, call: ToolCall): void;
}

const TOOL_CASES: ToolCase[] = [
  {
    name: 'openai',
    make: (url) => new OpenAIModel({ baseUrl: `${url}/v1`, apiKey: KEY, model: 'gpt-test' }),
    checkOffer(body) {
      expect(body.tools).toEqual([{ type: 'function', function: WEATHER }]);
      expect(body.tool_choice).toBe('auto');
    },
    checkFollowUp(body, call) {
      expect(body.messages.slice(1)).toEqual([
        { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: 'weather', arguments: JSON.stringify(ARGS) } }] },
        { role: 'tool', tool_call_id: call.id, content: '18 degrees' },
      ]);
    },
  },
  {
    name: 'anthropic',
    make: (url) => new AnthropicModel({ baseUrl: url, apiKey: KEY, model: 'claude-test' }),
    checkOffer(body) {
      expect(body.tools).toEqual([{ name: 'weather', description: WEATHER.description, input_schema: WEATHER.parameters }]);
      expect(body.tool_choice).toEqual({ type: 'auto' });
    },
    checkFollowUp(body, call) {
      expect(body.messages.slice(1)).toEqual([
        { role: 'assistant', content: [{ type: 'tool_use', id: call.id, name: 'weather', input: ARGS }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '18 degrees' }] },
      ]);
    },
  },
  {
    name: 'gemini',
    make: (url) => new GeminiModel({ baseUrl: url, apiKey: KEY, model: 'gemini-test' }),
    checkOffer(body) {
      expect(body.tools).toEqual([{ functionDeclarations: [WEATHER] }]);
      expect(body.toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    },
    checkFollowUp(body) {
      expect(body.contents.slice(1)).toEqual([
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: ARGS } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { content: '18 degrees' } } }] },
      ]);
    },
  },
  {
    name: 'ollama',
    make: (url) => new OllamaModel({ baseUrl: url, apiKey: KEY, model: 'llama-test' }),
    checkOffer(body) {
      expect(body.tools).toEqual([{ type: 'function', function: WEATHER }]);
    },
    checkFollowUp(body) {
      expect(body.messages.slice(1)).toEqual([
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'weather', arguments: ARGS } }] },
        { role: 'tool', content: '18 degrees', tool_name: 'weather' },
      ]);
    },
  },
];

let fake: FakeLlm;

beforeAll(async () => {
  fake = await FakeLlm.start({ apiKey: KEY, models: ['fake-model'] });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

function lastBody(): any {
  return (fake.lastRequest as RecordedRequest).body;
}

describe.each(TOOL_CASES)('$name tool calls', (c) => {
  let model: LanguageModel & Closable;

  beforeAll(() => {
    model = c.make(fake.url);
  });

  afterAll(async () => {
    await model.close();
  });

  it('offers the tools in the vendor format and reads back a whole call', async () => {
    const result = await model.doGenerate(ASK);
    c.checkOffer(lastBody());
    expect(result.finishReason).toBe('tool-calls');
    expect(result.toolCalls).toHaveLength(1);
    const [call] = result.toolCalls ?? [];
    expect(call?.name).toBe('weather');
    expect(JSON.parse(call?.arguments ?? '')).toEqual(ARGS);
    expect(call?.id).toMatch(/\S/);
  });

  it('assembles a streamed call into one tool-call part before the finish', async () => {
    const parts = await collect(model.doStream(ASK));
    const calls = parts.filter((p): p is Extract<StreamPart, { type: 'tool-call' }> => p.type === 'tool-call');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.toolCall.name).toBe('weather');
    expect(JSON.parse(calls[0]?.toolCall.arguments ?? '')).toEqual(ARGS);
    const last = parts.at(-1);
    expect(last?.type).toBe('finish');
    expect(last?.type === 'finish' && last.finishReason).toBe('tool-calls');
  });

  it('sends the call and its result back, and the model answers from the result', async () => {
    const { toolCalls } = await model.doGenerate(ASK);
    const call = toolCalls?.[0] as ToolCall;
    const result = await model.doGenerate(followUp(call));
    c.checkFollowUp(lastBody(), call);
    expect(result.text).toBe(FakeLlm.reply('tool said 18 degrees'));
    expect(result.finishReason).toBe('stop');
    expect(result.toolCalls).toBeUndefined();
  });

  it('asks for a named tool, or for none', async () => {
    await model.doGenerate({ ...ASK, toolChoice: { name: 'weather' } });
    const forced = lastBody();
    await model.doGenerate({ ...ASK, toolChoice: 'none' });
    const none = lastBody();
    switch (c.name) {
      case 'openai':
        expect(forced.tool_choice).toEqual({ type: 'function', function: { name: 'weather' } });
        expect(none.tool_choice).toBe('none');
        break;
      case 'anthropic':
        expect(forced.tool_choice).toEqual({ type: 'tool', name: 'weather' });
        expect(none.tool_choice).toEqual({ type: 'none' });
        break;
      case 'gemini':
        expect(forced.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } });
        expect(none.toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
        break;
      case 'ollama':
        // No tool_choice in Ollama's API: `none` withholds the tools.
        expect(forced.tools).toHaveLength(1);
        expect(none.tools).toBeUndefined();
        break;
    }
  });
});

interface EmbedCase {
  name: string;
  make(url: string): EmbeddingModel & Closable;
  check(req: RecordedRequest): void;
  tokens: number;
}

const TEXTS = ['hello world', 'héllo ☃ again, world'];

const EMBED_CASES: EmbedCase[] = [
  {
    name: 'openai',
    make: (url) => new OpenAIModel({ baseUrl: `${url}/v1`, apiKey: KEY, model: 'text-embedding-3-small' }),
    check(req) {
      expect(req.path).toBe('/v1/embeddings');
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(req.body).toEqual({ model: 'text-embedding-3-small', input: TEXTS, encoding_format: 'float' });
    },
    tokens: 6,
  },
  {
    name: 'gemini',
    make: (url) => new GeminiModel({ baseUrl: url, apiKey: KEY, model: 'models/text-embedding-004' }),
    check(req) {
      expect(req.path).toBe('/v1beta/models/text-embedding-004:batchEmbedContents');
      expect(req.headers['x-goog-api-key']).toBe(KEY);
      expect(req.body).toEqual({ requests: TEXTS.map((text) => ({ model: 'models/text-embedding-004', content: { parts: [{ text }] } })) });
    },
    tokens: 0,
  },
  {
    name: 'ollama',
    make: (url) => new OllamaModel({ baseUrl: url, apiKey: KEY, model: 'nomic-embed-text' }),
    check(req) {
      expect(req.path).toBe('/api/embed');
      expect(req.body).toEqual({ model: 'nomic-embed-text', input: TEXTS });
    },
    tokens: 6,
  },
];

describe.each(EMBED_CASES)('$name embeddings', (c) => {
  it('embeds a batch in order, in the vendor format', async () => {
    const model = c.make(fake.url);
    try {
      const result = await model.doEmbed({ values: TEXTS });
      c.check(fake.lastRequest as RecordedRequest);
      expect(result.embeddings).toEqual(TEXTS.map(FakeLlm.embedding));
      expect(result.usage.inputTokens).toBe(c.tokens);
    } finally {
      await model.close();
    }
  });

  it('classes a refused key as auth', async () => {
    const wrong = await FakeLlm.start({ apiKey: 'another-key' });
    const refused = c.make(wrong.url);
    try {
      const error = await refused.doEmbed({ values: TEXTS }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).errorClass).toBe('auth');
    } finally {
      await refused.close();
      await wrong.close();
    }
  });
});

describe('warm-up', () => {
  const cases: Array<{ name: string; make(url: string, key: string): LanguageModel & Closable; request: (r: RecordedRequest) => void }> = [
    {
      name: 'anthropic lists models with its own headers',
      make: (url, key) => new AnthropicModel({ baseUrl: url, apiKey: key, model: 'claude-test' }),
      request: (r) => {
        expect([r.method, r.path]).toEqual(['GET', '/v1/models']);
        expect(r.headers['anthropic-version']).toBe('2023-06-01');
      },
    },
    {
      name: 'gemini describes the configured model',
      make: (url, key) => new GeminiModel({ baseUrl: url, apiKey: key, model: 'gemini-test' }),
      request: (r) => expect([r.method, r.path]).toEqual(['GET', '/v1beta/models/gemini-test']),
    },
    {
      name: 'ollama loads the model with a prompt-less generate',
      make: (url, key) => new OllamaModel({ baseUrl: url, apiKey: key, model: 'llama-test', keepAlive: '10m' }),
      request: (r) => {
        expect([r.method, r.path]).toEqual(['POST', '/api/generate']);
        expect(r.body).toEqual({ model: 'llama-test', keep_alive: '10m' });
      },
    },
  ];

  it.each(cases)('$name, and fails clearly on a bad key', async (c) => {
    const good = c.make(fake.url, KEY);
    const bad = c.make(fake.url, 'wrong-key');
    try {
      await good.warmUp?.(AbortSignal.timeout(5000));
      c.request(fake.lastRequest as RecordedRequest);
      const error = await bad.warmUp?.(AbortSignal.timeout(5000)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).errorClass).toBe('auth');
    } finally {
      await Promise.all([good.close(), bad.close()]);
    }
  });
});
