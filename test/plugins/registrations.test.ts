import { afterEach, describe, expect, it } from 'vitest';
import { pluginHarness, run, type PluginHarness } from './harness.js';

let h: PluginHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('tool registrations', () => {
  it('registers a plugin tool with its schema and effect', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    expect(h.tool('echo_args')).toMatchObject({ name: 'echo_args', plugin: 'host-user', effect: 'read', parameters: { type: 'object', properties: { q: { type: 'string' } } } });
    expect(h.manager.get('host-user').registered.tools).toContain('echo_args');
  });

  it('invokes a tool through the plugin thread with its arguments and call context', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    const result = await h.tool('echo_args').execute({ q: 'weather' }, { signal: new AbortController().signal, messageId: 'm-1', attempt: 1, toolCallId: 'call-1' });
    expect(result).toEqual({ args: { q: 'weather' }, messageId: 'm-1', aborted: false });
  });

  it('refuses a second tool of the same name with PIPELINE_DUPLICATE_TOOL', async () => {
    h = await pluginHarness(['tool-clash'], { PINCER_PLUGINS_ENABLED: 'tools-a,tools-b' });
    const states = ['tools-a', 'tools-b'].map((name) => (h as PluginHarness).manager.get(name));
    expect(states.map((p) => p.state).sort()).toEqual(['enabled', 'failed']);
    expect(states.find((p) => p.state === 'failed')?.error?.code).toBe('PIPELINE_DUPLICATE_TOOL');
    const winner = states.find((p) => p.state === 'enabled')?.name;
    expect(await run(h.tool('lookup'), {})).toBe(winner);
  });

  it('carries a tool\'s examples across the thread boundary onto the host tool', async () => {
    h = await pluginHarness(['order-desk'], { PINCER_PLUGINS_ENABLED: 'order-desk' });
    expect(h.tool('order_status').examples).toEqual(['where is my order {order_id}', 'track order {order_id}', 'status of order {order_id}', 'where is my order', 'track my package']);
  });

  it('fails a plugin whose tool examples name a slot that is not a parameter, with PIPELINE_BAD_TOOL_EXAMPLES', async () => {
    h = await pluginHarness(['order-desk'], { PINCER_PLUGINS_ENABLED: 'bad-examples' });
    const state = h.manager.get('bad-examples');
    expect(state.state).toBe('failed');
    expect(state.error).toMatchObject({ code: 'PIPELINE_BAD_TOOL_EXAMPLES', message: expect.stringContaining('{order} is not a parameter') });
    expect(h.registry.tools.has('bad_examples')).toBe(false);
  });

  it('fails a plugin whose tool examples are not an array of strings, with the same code from its thread', async () => {
    h = await pluginHarness(['order-desk'], { PINCER_PLUGINS_ENABLED: 'examples-not-array' });
    expect(h.manager.get('examples-not-array').error).toMatchObject({ code: 'PIPELINE_BAD_TOOL_EXAMPLES', message: expect.stringContaining('must be an array of strings') });
  });

  it('removes a plugin\'s tools when it is disabled', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    await h.manager.disable('host-user');
    expect([...h.registry.tools.keys()]).toEqual([]);
  });
});

describe('channel registrations', () => {
  it('registers a plugin channel with its capabilities', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    expect(h.registry.channels.get('chat')).toMatchObject({ name: 'chat', plugin: 'host-user', capabilities: { edit: true, typing: false, idempotentSend: 'none', textLimit: 100, transports: ['webhook'] } });
    expect([...(h.registry.channels.get('chat')?.methods ?? [])].sort()).toEqual(['edit', 'webhook']);
    expect(h.manager.get('host-user').registered.channels).toEqual(['chat']);
  });

  const account = { id: 'default', config: {} };
  const target = { conversation: { kind: 'direct' as const, id: 'c-9' } };
  const signal = new AbortController().signal;

  it('sends a part through the plugin thread and returns its receipt', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    const chat = h.registry.channels.get('chat');
    const plan = await chat?.plan('hi there', target, account);
    expect(plan).toEqual({ parts: [{ text: 'hi there', plain: 'hi there' }], buckets: [] });
    expect(await chat?.send({ text: 'hi there', plain: 'hi there' }, target, account, signal)).toEqual({ ok: true, platformMessageId: 'sent:c-9:hi there' });
    expect(await chat?.edit('m-1', { text: 'more', plain: 'more' }, target, account, signal)).toEqual({ ok: true, platformMessageId: 'm-1:more' });
  });

  it('brings a classified failure back as data, and an unclassified one as ambiguous', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    const chat = h.registry.channels.get('chat');
    expect(await chat?.send({ text: 'limit me', plain: 'limit me' }, target, account, signal)).toEqual({ ok: false, errorClass: 'rate_limited', message: 'Too Many Requests', retryAfterMs: 3000 });
    expect(await chat?.send({ text: 'crash me', plain: 'crash me' }, target, account, signal)).toMatchObject({ ok: false, errorClass: 'ambiguous', message: expect.stringContaining('socket hang up') });
  });

  it('passes a webhook request to the plugin and returns its verdict', async () => {
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' });
    expect(await h.registry.channels.get('chat')?.webhook({ method: 'POST', query: {}, headers: {}, body: '12345' }, account)).toEqual({ accept: true, events: [], body: { length: 5 } });
  });
});
