import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { LogCapture, getJson, postJson, tempDir, testConfig } from '../support/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A bot in a folder whose pincer.config.yaml holds `configLine` (or nothing). */
async function bot(configLine: string | undefined, env: Record<string, string> = {}): Promise<{ pincer: Pincer; url: string }> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  if (configLine) writeFileSync(path.join(dir, 'pincer.config.yaml'), configLine + '\n');
  const pincer = await Pincer.create({ config: testConfig(dir), logDestination: new LogCapture(), env: { PATH: process.env.PATH ?? '', ...env } });
  cleanups.push(() => pincer.close());
  return { pincer, url: await pincer.start() };
}

const say = async (url: string, text: string, conversationId?: string) => (await postJson(`${url}/v1/messages?wait=10`, { text, ...(conversationId ? { conversationId } : {}) })).body;

describe('model configuration', () => {
  it('moves from the built-in model to an OpenAI-compatible server and back with one line of configuration', async () => {
    const fake = await FakeLlm.start();
    cleanups.push(() => fake.close());

    const local = await bot(undefined);
    expect(local.pincer.models.deployments).toEqual([expect.objectContaining({ provider: 'local', model: 'local/intents' })]);
    expect((await say(local.url, 'what can you do?')).reply).toMatchObject({ responder: 'model', data: { model: 'local/intents', intent: 'capabilities' } });

    const remote = await bot(`models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }`);
    const answered = await say(remote.url, 'what can you do?');
    expect(answered.reply).toMatchObject({ responder: 'model', text: FakeLlm.reply('what can you do?'), data: { finishReason: 'stop' } });
    const sent = fake.requests.at(-1);
    expect(sent).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect((sent?.body as { model: string; stream: boolean; messages: Array<{ role: string }> })).toMatchObject({ model: 'fake-model', stream: true, messages: [{ role: 'system' }, { role: 'user' }] });
  });

  it('sends the conversation\'s earlier turns, newest first within the token budget', async () => {
    const fake = await FakeLlm.start();
    cleanups.push(() => fake.close());
    const { url } = await bot(`models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: m } ], history_tokens: 12 }`);
    await say(url, 'one two three', 'talk');
    await say(url, 'four five six', 'talk');
    await say(url, 'seven', 'talk');
    const last = fake.requests.at(-1)?.body as { messages: Array<{ role: string; content: string }> };
    // The budget (12 tokens) holds only the newest earlier turn (4 + 6 tokens); two would be 20.
    expect(last.messages.map((m) => [m.role, m.content])).toEqual([
      ['system', expect.stringMatching(/^You are Pincer/)],
      ['user', 'four five six'],
      ['assistant', FakeLlm.reply('four five six')],
      ['user', 'seven'],
    ]);
  });

  it('retries a failing server through the router, so the message is answered on its first attempt', async () => {
    const fake = await FakeLlm.start();
    cleanups.push(() => fake.close());
    const { url } = await bot(`models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: m } ], router: { backoff: 10ms } }`);
    fake.enqueueFault({ type: 'status', status: 500 });
    const message = await say(url, 'hello');
    expect(message).toMatchObject({ status: 'done', attempts: 1, reply: { text: FakeLlm.reply('hello') } });
    expect(fake.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(2);
  });

  it('lists deployments with their usage and checks each one live (admin API)', async () => {
    const fake = await FakeLlm.start({ apiKey: 'right-key' });
    cleanups.push(() => fake.close());
    const { url } = await bot(
      `models: { default: [ { id: good, provider: openai-compatible, base_url: "${fake.url}/v1", model: m, api_key: right-key }, { id: bad, provider: openai-compatible, base_url: "${fake.url}/v1", model: m, api_key: wrong-key, priority: 1 } ] }`,
    );
    await say(url, 'hello');
    const listed = (await getJson(`${url}/v1/admin/models`)).body.deployments;
    expect(listed).toEqual([
      expect.objectContaining({ id: 'good', provider: 'openai-compatible', priority: 0, calls: 1, failures: 0, usage: expect.objectContaining({ outputTokens: expect.any(Number) }) }),
      expect.objectContaining({ id: 'bad', priority: 1, calls: 0 }),
    ]);
    const checked = (await postJson(`${url}/v1/admin/models/test`, {})).body.results;
    expect(checked).toEqual([
      expect.objectContaining({ id: 'good', ok: true }),
      expect.objectContaining({ id: 'bad', ok: false, error: expect.objectContaining({ code: 'MODEL_AUTH' }) }),
    ]);
    expect(await postJson(`${url}/v1/admin/models/test`, { deployment: 'nope' })).toMatchObject({ status: 404, body: { error: { code: 'MODEL_NOT_FOUND' } } });
  });

  it('warms models up at start, and is not ready while no deployment is usable', async () => {
    const fake = await FakeLlm.start({ apiKey: 'right-key' });
    cleanups.push(() => fake.close());
    const line = (key: string) => `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: m, api_key: ${key} } ] }`;
    const good = await bot(line('right-key'));
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toContain('GET /v1/models');
    expect((await getJson(`${good.url}/ready`)).body).toMatchObject({ status: 'ready', checks: { models: 'ok' } });

    const bad = await bot(line('wrong-key'));
    const ready = await getJson(`${bad.url}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toMatch(/^models: no model deployment is usable: openai-compatible:m: .*/);
  });

  it('refuses to start with a missing key or a MODEL_PATH that is no GGUF file, naming the setting', async () => {
    await expect(bot('models: { default: [ { provider: openai } ] }')).rejects.toMatchObject({
      code: 'MODEL_CONFIG_INVALID',
      message: 'models.default[0]: provider openai needs an API key: set api_key, OPENAI_API_KEY or API_KEY',
    });
    await expect(bot(undefined, { MODEL_PATH: '/models/tiny.gguf' })).rejects.toMatchObject({ code: 'MODEL_CONFIG_INVALID', message: 'MODEL_PATH=/models/tiny.gguf: no such file' });
    await expect(bot(undefined, { MODEL_PATH: '/models/tiny.bin' })).rejects.toMatchObject({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(/^MODEL_PATH=\/models\/tiny\.bin: expected a \.gguf file/) });
    const fromEnv = await bot(undefined, { OPENAI_API_KEY: 'sk-test-key', OLLAMA_HOST: '127.0.0.1:1' });
    expect(fromEnv.pincer.models.deployments.map((d) => [d.provider, d.source, d.priority])).toEqual([
      ['openai', 'OPENAI_API_KEY', 0],
      ['ollama', 'OLLAMA_HOST', 1],
    ]);
  });
});
