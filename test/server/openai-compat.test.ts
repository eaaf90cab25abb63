import { writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashedEmbedding } from '../../src/models/local/hashed-embedding.js';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { LogCapture, getJson, startPincer, tempDir, testConfig, type RunningPincer } from '../support/index.js';

/** The official openai SDK, unchanged, as a client of Pincer's OpenAI-compatible API. */
describe('OpenAI-compatible API', () => {
  let bot: RunningPincer;
  let client: OpenAI;
  beforeAll(async () => {
    bot = await startPincer({ PINCER_API_TOKENS: 'secret-token-1' });
    client = new OpenAI({ baseURL: `${bot.url}/v1`, apiKey: 'secret-token-1', maxRetries: 0 });
  });
  afterAll(() => bot.close());

  it('lists the bot as a model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['pincer']);
  });

  it('answers a chat completion through the queue and pipeline', async () => {
    const completion = await client.chat.completions.create({ model: 'pincer', messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content: 'what can you do?' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message).toMatchObject({ role: 'assistant' });
    expect(completion.choices[0]?.message.content).toMatch(/send \/help/);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    // It is a message like any other: stored, analysed, answered by the model responder.
    const id = completion.id.replace(/^chatcmpl-/, '');
    const stored = await getJson(`${bot.url}/v1/messages/${id}`, { authorization: 'Bearer secret-token-1' });
    expect(stored.body).toMatchObject({ status: 'done', channel: 'openai', text: 'what can you do?', reply: { responder: 'model' } });
  });

  it('streams a completion, and commands work too', async () => {
    const stream = await client.chat.completions.create({ model: 'pincer', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'tell me a joke' }] });
    let text = '';
    let finish: string | null | undefined;
    let usage: unknown;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text.length).toBeGreaterThan(20);
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ total_tokens: expect.any(Number) });
    const ping = await client.chat.completions.create({ model: 'pincer', messages: [{ role: 'user', content: '/ping' }] });
    expect(ping.choices[0]?.message.content).toBe('pong');
  });

  it('embeds with the configured embedding deployments (the built-in one by default)', async () => {
    const input = ['hello world', 'translate this'];
    const result = await client.embeddings.create({ model: 'pincer', input, encoding_format: 'float' });
    expect(result.data.map((d) => d.embedding)).toEqual(input.map((text) => hashedEmbedding(text)));
    expect(result.usage.prompt_tokens).toBe(4);
    // The SDK's default, base64 float32.
    const packed = await client.embeddings.create({ model: 'pincer', input: 'hello world' });
    expect(packed.data[0]?.embedding).toHaveLength(256);
    await expect(client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(client.embeddings.create({ model: 'pincer', input: [] })).rejects.toMatchObject({ status: 400 });
  });

  it('answers bad requests with 4xx errors the SDK understands', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404 });
    await expect(client.chat.completions.create({ model: 'pincer', messages: [] })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ model: 'pincer', messages: [{ role: 'assistant', content: 'hi' }] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/last message must have role "user"/) });
    const anonymous = new OpenAI({ baseURL: `${bot.url}/v1`, apiKey: 'wrong-token-xyz', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toMatchObject({ status: 401 });
  });
});

describe('OpenAI-compatible API over a configured model', () => {
  it('relays the fake LLM through Pincer to the openai SDK', async () => {
    const fake = await FakeLlm.start();
    const project = tempDir();
    writeFileSync(path.join(project.dir, 'pincer.config.yaml'), `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\n`);
    const pincer = await Pincer.create({ config: testConfig(project.dir), logDestination: new LogCapture(), env: {} });
    try {
      const url = await pincer.start();
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: 'pincer', messages: [{ role: 'user', content: 'hello there' }] });
      expect(completion.choices[0]?.message.content).toBe(FakeLlm.reply('hello there'));
    } finally {
      await pincer.close();
      await fake.close();
      project.cleanup();
    }
  });
});

describe('OpenAI-compatible streaming across a retried attempt', () => {
  it('ends in an error, never a reply spliced from two attempts', async () => {
    const bot = await startPincer({ PINCER_QUEUE_RETRY_DELAY: '10ms' });
    let attempt = 0;
    // Streams part of a reply, then fails; the retry answers differently.
    bot.pincer.registry.addResponder({
      name: 'flaky',
      order: 50,
      respond: async (ctx) => {
        attempt++;
        if (attempt === 1) {
          ctx.stream('Hel');
          throw new Error('lost the model mid-reply');
        }
        ctx.stream('Goodbye');
        return { text: 'Goodbye' };
      },
    });
    try {
      const client = new OpenAI({ baseURL: `${bot.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: 'pincer', stream: true, messages: [{ role: 'user', content: 'say something' }] });
      let text = '';
      const failure = await (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(attempt).toBe(2);
      // Either the failure came before any token went out (then the retry streams cleanly), or
      // the client is told: no "HelGoodbye".
      if (text.startsWith('Hel')) expect(String(failure)).toMatch(/retried after part of a failed attempt/);
      else expect(text).toBe('Goodbye');
      expect(text).not.toMatch(/HelGoodbye/);
    } finally {
      await bot.close();
    }
  });
});
