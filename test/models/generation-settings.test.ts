import { writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { LogCapture, hermeticEnv, postJson, tempDir, testConfig } from '../support/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A running bot whose pincer.config.yaml holds `models` (a YAML flow mapping). */
async function bot(models: string): Promise<{ url: string; logs: LogCapture }> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  // The plain model path: no core memory tools or kb_search, which would make every answer a tool loop.
  writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: ${models}\nmemory: { tools: false }\nkb: { enabled: false }\n`);
  const logs = new LogCapture();
  const pincer = await Pincer.create({ config: testConfig(dir), logDestination: logs, env: hermeticEnv() });
  cleanups.push(() => pincer.close());
  return { url: await pincer.start(), logs };
}

async function fake(): Promise<FakeLlm> {
  const server = await FakeLlm.start();
  cleanups.push(() => server.close());
  return server;
}

const say = async (url: string, text: string, conversationId: string) => {
  const answer = await postJson(`${url}/v1/messages?wait=5`, { text, conversationId });
  expect(answer.status).toBe(200);
  return answer.body;
};

/** The value of one series of /metrics, e.g. `pincer_model_cache_requests_total{result="hit"}`. */
async function metric(url: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const hits = (url: string) => metric(url, 'pincer_model_cache_requests_total{result="hit"}');
const misses = (url: string) => metric(url, 'pincer_model_cache_requests_total{result="miss"}');

describe('generation settings and the response cache, in a running bot', () => {
  /*
   * Two conversations asked the same first question are in the same state (no earlier turns),
   * so the second is the repeat the cache exists for. A further question in the first
   * conversation carries that conversation's history, so it is a different request: a miss.
   */
  it('with models.temperature 0, serves a repeated question from the cache, and counts it in /metrics', async () => {
    const llm = await fake();
    const { url } = await bot(`{ default: [ { provider: openai-compatible, base_url: "${llm.url}/v1", model: m } ], temperature: 0 }`);
    const chats = () => llm.requests.filter((r) => r.path === '/v1/chat/completions');

    const first = await say(url, 'what is a crab?', 'alice');
    const second = await say(url, 'what is a crab?', 'bob');
    expect(second.reply.text).toBe(FakeLlm.reply('what is a crab?'));
    expect(second.reply.text).toBe(first.reply.text);
    expect(chats()).toHaveLength(1);
    expect(chats()[0]?.body).toMatchObject({ temperature: 0 });
    expect(await hits(url)).toBe(1);
    expect(await misses(url)).toBe(1);

    await say(url, 'what is a crab?', 'alice');
    expect(chats()).toHaveLength(2);
    expect(await hits(url)).toBe(1);
    expect(await misses(url)).toBe(2);
  });

  it('caches the built-in model\'s replies at temperature 0 too', async () => {
    const { url } = await bot('{ temperature: 0 }');
    const first = await say(url, 'what can you do?', 'alice');
    const second = await say(url, 'what can you do?', 'bob');
    expect(second.reply).toEqual(first.reply);
    expect(second.reply.data.warnings).toBeUndefined();
    expect(await hits(url)).toBe(1);
  });

  it('without a temperature, sends none and caches nothing', async () => {
    const llm = await fake();
    const { url } = await bot(`{ default: [ { provider: openai-compatible, base_url: "${llm.url}/v1", model: m } ] }`);
    await say(url, 'hello', 'alice');
    await say(url, 'hello', 'bob');
    const chats = llm.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(chats).toHaveLength(2);
    expect(chats[0]?.body).not.toHaveProperty('temperature');
    expect(chats[0]?.body).not.toHaveProperty('max_tokens');
    expect(await hits(url)).toBe(0);
    expect(await misses(url)).toBe(0);
  });

  it('passes an OpenAI client\'s temperature and max_tokens on to the model, over the configured ones', async () => {
    const llm = await fake();
    const { url } = await bot(`{ default: [ { provider: openai-compatible, base_url: "${llm.url}/v1", model: m } ], temperature: 0, max_tokens: 300 }`);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chats = () => llm.requests.filter((r) => r.path === '/v1/chat/completions');

    const completion = await client.chat.completions.create({ model: 'pincer', temperature: 0.4, max_tokens: 2, messages: [{ role: 'user', content: 'one two three four' }] });
    // The fake honours max_tokens as words: the reply was cut to two.
    expect(completion.choices[0]?.message.content).toBe('echo: one ');
    expect(chats().at(-1)?.body).toMatchObject({ temperature: 0.4, max_tokens: 2 });

    await client.chat.completions.create({ model: 'pincer', max_completion_tokens: 5, stream: false, messages: [{ role: 'user', content: 'hello' }] });
    expect(chats().at(-1)?.body).toMatchObject({ temperature: 0, max_tokens: 5 });

    await client.chat.completions.create({ model: 'pincer', messages: [{ role: 'user', content: 'hi there' }] });
    expect(chats().at(-1)?.body).toMatchObject({ temperature: 0, max_tokens: 300 });
  });

  it('keeps what a model cannot honour in the reply and logs it once', async () => {
    const { url, logs } = await bot('{ temperature: 0.8 }');
    const first = await say(url, 'hello', 'alice');
    await say(url, 'thanks', 'alice');
    expect(first.reply.data.warnings).toEqual([{ type: 'unsupported-setting', setting: 'temperature', details: expect.stringContaining('0.8 was ignored') }]);
    expect(logs.lines.filter((l) => l.event === 'model.warning')).toEqual([expect.objectContaining({ deployment: 'local', warning: expect.objectContaining({ setting: 'temperature' }) })]);
  });
});
