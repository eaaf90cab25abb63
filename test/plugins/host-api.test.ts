import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pluginHarness, run, type PluginHarness } from './harness.js';

let h: PluginHarness;
beforeAll(async () => {
  h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
  expect(h.manager.get('host-user')).toMatchObject({ state: 'enabled' });
});
afterAll(() => h.close());

describe('ctx.pincer.enqueue', () => {
  it('answers after the message is committed to the store', async () => {
    const result = (await run(h.tool('enqueue_message'), { text: 'remind me', conversationId: 'tg:42', sender: 'alice', channel: 'telegram', metadata: { update: 7 } })) as { id: string };
    expect(result).toMatchObject({ conversationId: 'tg:42', status: 'queued', duplicate: false });
    expect(await h.store.messages.get(result.id)).toMatchObject({ text: 'remind me', conversationId: 'tg:42', sender: 'alice', channel: 'telegram', priority: 'normal', metadata: { update: 7 } });
  });

  it('defaults the channel to "plugin"', async () => {
    const result = (await run(h.tool('enqueue_message'), { text: 'hello', conversationId: 'c-default' })) as { id: string };
    expect((await h.store.messages.get(result.id))?.channel).toBe('plugin');
  });

  it('maps a repeated idempotency key onto the first message', async () => {
    const first = (await run(h.tool('enqueue_message'), { text: 'update', conversationId: 'tg:1', idempotencyKey: 'tg:update:9' })) as { id: string };
    const second = await run(h.tool('enqueue_message'), { text: 'update', conversationId: 'tg:1', idempotencyKey: 'tg:update:9' });
    expect(second).toMatchObject({ id: first.id, duplicate: true });
  });

  it.each([
    ['an empty text', { text: '', conversationId: 'c1' }],
    ['a bad conversation id', { text: 'x', conversationId: 'has spaces' }],
    ['a bad channel', { text: 'x', conversationId: 'c1', channel: 'Not A Channel' }],
    ['an unknown field', { text: 'x', conversationId: 'c1', colour: 'red' }],
    ['metadata that is not an object', { text: 'x', conversationId: 'c1', metadata: [1, 2] }],
    ['metadata nested too deep', { text: 'x', conversationId: 'c1', metadata: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) }],
  ])('refuses %s with PLUGIN_ENQUEUE_INVALID and status 400', async (_what, message) => {
    expect(await run(h.tool('enqueue_refused'), message)).toEqual({ code: 'PLUGIN_ENQUEUE_INVALID', status: 400 });
  });

  it('fails the plugin call that passed bad input with the host\'s code', async () => {
    await expect(run(h.tool('enqueue_message'), { text: 'x' })).rejects.toMatchObject({ code: 'PLUGIN_ENQUEUE_INVALID' });
  });
});

describe('ctx.pincer.models', () => {
  it('generates through the model layer', async () => {
    const result = await run(h.tool('generate'), { text: 'hello' });
    expect(result).toMatchObject({ text: expect.any(String), finishReason: 'stop' });
    expect((result as { text: string }).text.length).toBeGreaterThan(0);
  });

  it('streams text deltas as they arrive, then the finish part', async () => {
    const parts = (await run(h.tool('stream'), { text: 'hello' })) as Array<{ type: string; delta?: string }>;
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    const deltas = parts.slice(0, -1);
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.every((p) => p.type === 'text-delta' && typeof p.delta === 'string')).toBe(true);
    const generated = (await run(h.tool('generate'), { text: 'hello' })) as { text: string };
    expect(deltas.map((p) => p.delta).join('')).toBe(generated.text);
  });

  it('lets a plugin stop reading a stream early', async () => {
    expect(await run(h.tool('stream_first'), { text: 'hello' })).toMatchObject({ type: 'text-delta' });
  });

  it('embeds values, one vector each', async () => {
    const result = (await run(h.tool('embed'), { values: ['one', 'two'] })) as { embeddings: number[][] };
    expect(result.embeddings).toHaveLength(2);
    expect(result.embeddings[0]?.length).toBeGreaterThan(0);
  });

  it('refuses a request without messages with PLUGIN_MODEL_REQUEST_INVALID', async () => {
    await expect(run(h.tool('embed'), { values: [] })).rejects.toMatchObject({ code: 'PLUGIN_MODEL_REQUEST_INVALID' });
  });
});
