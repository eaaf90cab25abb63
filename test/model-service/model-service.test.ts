import { writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyBaseLogger } from 'fastify';
import { Admission } from '../../src/model-service/admission.js';
import { startModelService, type ModelService } from '../../src/model-service/service.js';
import { LocalModel } from '../../src/models/local/local-model.js';
import { hashedEmbedding } from '../../src/models/local/hashed-embedding.js';
import { createOpenAIModel } from '../../src/models/providers/openai.js';
import { Pincer } from '../../src/pincer.js';
import { PINCER_VERSION } from '../../src/version.js';
import { writeTinyGguf } from '../support/gguf.js';
import { LogCapture, hermeticEnv, postJson, tempDir, testConfig } from '../support/index.js';

/**
 * `pincer model serve` (S2.3): the official openai SDK, unchanged, as its client; and a bot
 * whose one configured deployment is the service, reached through the openai-compatible provider.
 */

const TOKEN = 'model-service-token';
const silent = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

function start(env: Record<string, string> = {}, overrides: { host?: string; processEnv?: Record<string, string> } = {}): Promise<ModelService> {
  const project = tempDir();
  const { processEnv, ...rest } = overrides;
  return startModelService({ config: testConfig(project.dir, env), env: { ...hermeticEnv(), ...processEnv }, log: silent, version: PINCER_VERSION, port: 0, ...rest });
}

describe('model service', () => {
  let service: ModelService;
  let client: OpenAI;
  const local = new LocalModel({ botName: 'Pincer', version: PINCER_VERSION });

  beforeAll(async () => {
    service = await start({ PINCER_MODEL_SERVICE_TOKENS: TOKEN });
    await service.warmed;
    client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
  });
  afterAll(() => service.close());

  it('lists its models and is ready once they are warm', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['local/intents']);
    const ready = await fetch(`${service.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await (await fetch(`${service.url}/health`)).text()).toBe('OK');
  });

  it('answers a chat completion as the model itself would', async () => {
    const messages = [{ role: 'user' as const, content: 'hello there!' }];
    const expected = await local.doGenerate({ messages });
    const completion = await client.chat.completions.create({ model: 'local/intents', messages });
    expect(completion.choices[0]?.message.content).toBe(expected.text);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toEqual({ prompt_tokens: expected.usage.inputTokens, completion_tokens: expected.usage.outputTokens, total_tokens: expected.usage.inputTokens + expected.usage.outputTokens });
  });

  it('streams a completion in chunks, with usage when asked', async () => {
    const messages = [{ role: 'user' as const, content: 'what can you do?' }];
    const expected = await local.doGenerate({ messages });
    const stream = await client.chat.completions.create({ model: 'local/intents', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    let finish: string | null | undefined;
    let usage: unknown;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(expected.text);
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: expected.usage.outputTokens });
  });

  it('embeds, in the SDK\'s default base64 and as floats', async () => {
    const input = ['translate this please', 'what time is it'];
    const base64 = await client.embeddings.create({ model: 'local/intents', input });
    const floats = await client.embeddings.create({ model: 'local/intents', input, encoding_format: 'float' });
    for (const [i, text] of input.entries()) {
      const want = hashedEmbedding(text);
      // base64 carries float32: equal to single precision.
      (base64.data[i]?.embedding ?? []).forEach((v, j) => expect(v).toBeCloseTo(want[j] ?? NaN, 6));
      expect(floats.data[i]?.embedding).toEqual(want);
    }
    expect(floats.usage.prompt_tokens).toBe(7);
  });

  it('refuses bad requests with errors the SDK understands', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/not served here; chat models: local\/intents/) });
    await expect(client.chat.completions.create({ model: 'local/intents', messages: [] })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ model: 'local/intents', messages: [{ role: 'tool', content: 'x' } as never] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/tool_call_id/) });
    await expect(client.embeddings.create({ model: 'local/intents', input: 'x', dimensions: 3 })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/gives 256 dimensions/) });
    const anonymous = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'wrong-token-xyz', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toMatchObject({ status: 401 });
    const raw = await postJson(`${service.url}/v1/chat/completions`, { model: 'local/intents', messages: [{ role: 'user', content: 42 }] }, { authorization: `Bearer ${TOKEN}` });
    expect(raw.status).toBe(400);
    expect(raw.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('serves Pincer\'s own openai-compatible provider', async () => {
    const provider = createOpenAIModel({ provider: 'openai-compatible', baseUrl: `${service.url}/v1`, apiKey: TOKEN, model: 'local/intents' });
    try {
      const messages = [{ role: 'user' as const, content: 'thanks a lot!' }];
      const result = await provider.doGenerate({ messages });
      expect(result.text).toBe((await local.doGenerate({ messages })).text);
      expect(await provider.listModels()).toEqual(['local/intents']);
    } finally {
      await provider.close();
    }
  });

  it('refuses to listen beyond loopback without tokens', async () => {
    await expect(start({}, { host: '0.0.0.0' })).rejects.toMatchObject({ code: 'CONFIG_INSECURE_BIND' });
  });
});

describe('model service with a GGUF file', () => {
  it('serves MODEL_PATH\'s model first, streaming and embedding, beside the built-in one', async () => {
    const project = tempDir();
    const file = path.join(project.dir, 'tiny.gguf');
    await writeTinyGguf(file);
    const service = await start({}, { processEnv: { MODEL_PATH: file } });
    try {
      await service.warmed;
      expect((await fetch(`${service.url}/ready`)).status).toBe(200);
      const client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ids = (await client.models.list()).data.map((m) => m.id);
      expect(ids).toEqual(['llama-cpp/tiny.gguf', 'local/intents']);
      const stream = await client.chat.completions.create({ model: 'llama-cpp/tiny.gguf', messages: [{ role: 'user', content: 'hello' }], max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } });
      let deltas = 0;
      let finish: string | null | undefined;
      let usage: { completion_tokens: number; prompt_tokens: number } | undefined;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) deltas++;
        finish = chunk.choices[0]?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
      }
      // Random weights: the words mean nothing, the lifecycle and counts do.
      expect(finish).toBe('length');
      expect(usage?.completion_tokens).toBe(6);
      expect(usage?.prompt_tokens).toBeGreaterThan(0);
      expect(deltas).toBeGreaterThan(0);
      const embedded = await client.embeddings.create({ model: 'llama-cpp/tiny.gguf', input: ['a', 'b c'], encoding_format: 'float' });
      expect(embedded.data).toHaveLength(2);
      expect(embedded.data[0]?.embedding).toHaveLength(64);
    } finally {
      await service.close();
      project.cleanup();
    }
  });
});

describe('a bot whose model is the model service', () => {
  it('answers through the pipeline with the service, and back with one line of config', async () => {
    const service = await start();
    const project = tempDir();
    const ask = async (pincer: Pincer, url: string) => {
      const sent = await postJson(`${url}/v1/messages?wait=10`, { text: 'hi, how are you?', conversationId: 'c1' });
      expect(sent.status).toBe(200);
      return sent.body as { reply: { responder: string; text: string; data: { model: string } } };
    };
    try {
      const configFile = path.join(project.dir, 'pincer.config.yaml');
      writeFileSync(configFile, `models: { default: [ { provider: openai-compatible, base_url: "${service.url}/v1", model: local/intents } ] }\n`);
      const remote = await Pincer.create({ config: testConfig(project.dir), logDestination: new LogCapture(), env: hermeticEnv() });
      const viaService = await ask(remote, await remote.start());
      await remote.close();
      // The same line commented out: back to the built-in model.
      writeFileSync(configFile, `# models: { default: [ { provider: openai-compatible, base_url: "${service.url}/v1", model: local/intents } ] }\n`);
      const builtIn = await Pincer.create({ config: testConfig(project.dir), logDestination: new LogCapture(), env: hermeticEnv() });
      const direct = await ask(builtIn, await builtIn.start());
      await builtIn.close();
      expect(viaService.reply.data.model).toBe('openai-compatible/local/intents');
      expect(direct.reply.data.model).toBe('local/intents');
      // Same model on both paths: the same words.
      expect(viaService.reply.text).toBe(direct.reply.text);
    } finally {
      await service.close();
      project.cleanup();
    }
  });
});

describe('admission', () => {
  it('runs up to the limit, queues in order up to max waiting, then refuses at once', async () => {
    const admission = new Admission('m', 1, 1);
    const first = await admission.acquire();
    const order: string[] = [];
    const second = admission.acquire().then((release) => {
      order.push('second');
      return release;
    });
    expect(admission.stats).toEqual({ running: 1, waiting: 1 });
    await expect(admission.acquire()).rejects.toMatchObject({ code: 'MODEL_BUSY', statusCode: 429 });
    first();
    first(); // releasing twice must not free a second slot
    const release = await second;
    expect(order).toEqual(['second']);
    expect(admission.stats).toEqual({ running: 1, waiting: 0 });
    release();
    expect(admission.stats).toEqual({ running: 0, waiting: 0 });
  });

  it('drops a waiter whose caller aborts', async () => {
    const admission = new Admission('m', 1, 4);
    const held = await admission.acquire();
    const controller = new AbortController();
    const waiting = admission.acquire(controller.signal);
    controller.abort(new Error('client went away'));
    await expect(waiting).rejects.toThrow('client went away');
    expect(admission.stats).toEqual({ running: 1, waiting: 0 });
    held();
    expect(admission.stats).toEqual({ running: 0, waiting: 0 });
  });
});
