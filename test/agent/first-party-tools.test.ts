/**
 * The first-party tools plugin (plugins/tools) through a running Pincer and the
 * OpenAI-compatible fake LLM: current_time answered in the zone asked for; fetch_url offered
 * only when enabled, and refusing a loopback address even then.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { LogCapture, postJson, tempDir, testConfig } from '../support/index.js';

describe('first-party tools', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function boot(toolsConfig: string): Promise<{ url: string; fake: FakeLlm }> {
    const fake = await FakeLlm.start();
    const { dir, cleanup } = tempDir();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\nplugins: { enabled: [tools], config: { tools: ${toolsConfig} } }\n`);
    const pincer = await Pincer.create({ config: testConfig(dir, { PINCER_PLUGINS_ENABLED: 'tools' }), logDestination: new LogCapture(), env: {} });
    const url = await pincer.start();
    cleanups.push(cleanup, () => fake.close(), () => pincer.close());
    return { url, fake };
  }

  // The core memory tools are offered too (test/memory/); these tests are about the plugin's.
  const offered = (fake: FakeLlm) =>
    ((fake.requests.find((r) => r.path.endsWith('/chat/completions'))?.body as { tools?: Array<{ function: { name: string } }> }).tools ?? []).map((t) => t.function.name).filter((name) => !name.startsWith('memory_'));

  it('answers current_time in the zone the model asks for; fetch_url is not offered unless enabled', async () => {
    const { url, fake } = await boot('{ time_zone: "Europe/Berlin" }');
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text: 'call current_time {"time_zone":"Asia/Tokyo"}' });
    const reply = answer.body.reply as { text: string; data: { steps: unknown[] } };
    expect(reply.data.steps).toEqual([{ tool: 'current_time', ok: true, ms: expect.any(Number) }]);
    expect(reply.text).toMatch(/"timeZone":"Asia\/Tokyo"/);
    expect(reply.text).toMatch(/\+09:00/);
    expect(offered(fake)).toEqual(['current_time']);
  });

  it('offers fetch_url when enabled and refuses a loopback address with the reason', async () => {
    const { url, fake } = await boot('{ fetch_url: { enabled: true } }');
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text: `call fetch_url {"url":"${url}/health"}` });
    const reply = answer.body.reply as { text: string; data: { steps: Array<{ ok: boolean; error?: string }> } };
    expect(offered(fake)).toEqual(['current_time', 'fetch_url']);
    expect(reply.data.steps).toEqual([{ tool: 'fetch_url', ok: false, ms: expect.any(Number), error: 'tool_failed' }]);
    expect(reply.text).toMatch(/not fetched: 127\.0\.0\.1 is a private, loopback or reserved address/);
  });
});
