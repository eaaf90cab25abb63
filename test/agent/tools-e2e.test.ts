/**
 * The tool loop through a running Pincer: a plugin's tool in its thread, the model behind the
 * OpenAI-compatible fake LLM (which calls a tool when the user writes `call <tool> <json>`
 * and tools are offered, and answers `tool said <result>` once it has a result).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { LogCapture, pluginProject, postJson, testConfig } from '../support/index.js';
import { readSse } from '../support/sse.js';

describe('tools through a running Pincer', () => {
  let fake: FakeLlm;
  let pincer: Pincer;
  let url: string;
  let cleanup: () => void;

  beforeAll(async () => {
    fake = await FakeLlm.start();
    const project = pluginProject(['host-user']);
    cleanup = project.cleanup;
    writeFileSync(path.join(project.root, 'pincer.config.yaml'), `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\nagent: { max_steps: 3 }\n`);
    pincer = await Pincer.create({ config: testConfig(project.root, { PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'host-user' }), logDestination: new LogCapture(), env: {} });
    url = await pincer.start();
  });
  afterAll(async () => {
    await pincer?.close();
    await fake?.close();
    cleanup?.();
  });

  it("offers the plugins' tools, runs the one the model calls in its plugin's thread, and answers with its result", async () => {
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text: 'call echo_args {"q":"order 42"}' });
    expect(answer.status).toBe(200);
    const { reply } = answer.body as { reply: { text: string; data: Record<string, unknown> } };
    expect(reply.data['stopReason']).toBe('done');
    expect(reply.data['steps']).toEqual([{ tool: 'echo_args', ok: true, ms: expect.any(Number) }]);
    // The tool saw its arguments and the message it serves.
    expect(reply.text).toContain('tool said');
    expect(reply.text).toContain('order 42');
    expect(reply.text).toContain(answer.body.id);
    const offered = fake.requests.find((r) => r.path.endsWith('/chat/completions'))?.body as { tools?: Array<{ function: { name: string } }> };
    expect(offered.tools?.map((t) => t.function.name)).toEqual(expect.arrayContaining(['echo_args', 'enqueue_message']));
  });

  it('gives the model an error result for arguments its schema refuses, and finishes', async () => {
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text: 'call echo_args {"q": 7}' });
    const { reply } = answer.body as { reply: { text: string; data: Record<string, unknown> } };
    expect(reply.data['steps']).toEqual([{ tool: 'echo_args', ok: false, ms: 0, error: 'invalid_arguments' }]);
    expect(reply.text).toContain('invalid_arguments');
  });

  it('counts steps, tool calls by outcome and stop reasons in /metrics', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ')[1] ?? NaN);
    expect(value('pincer_agent_tool_calls_total{tool="echo_args",outcome="ok"}')).toBe(1);
    expect(value('pincer_agent_tool_calls_total{tool="echo_args",outcome="invalid_arguments"}')).toBe(1);
    expect(value('pincer_agent_stops_total{reason="done"}')).toBe(2);
    expect(value('pincer_agent_steps_total')).toBe(4);
  });

  it('streams the loop to a client watching the message: step, tool, step, then the reply', async () => {
    // A slow first message holds the conversation, so the watch is open before the second starts.
    fake.enqueueFault({ type: 'slow-first-token', ms: 1500 });
    const conversationId = 'watched-tools';
    await postJson(`${url}/v1/messages`, { text: 'hello first', conversationId });
    const accepted = await postJson(`${url}/v1/messages`, { text: 'call echo_args {"q":"watched"}', conversationId });
    const events = await readSse(await fetch(`${url}/v1/messages/${accepted.body.id}/events`));
    expect(events.map((e) => e.event).filter((name) => name !== 'status' && name !== 'token')).toEqual(['step', 'tool', 'step', 'reply', 'end']);
    expect(events.filter((e) => e.event === 'step').map((e) => e.data)).toEqual([{ index: 0 }, { index: 1 }]);
    expect(events.find((e) => e.event === 'tool')?.data).toEqual({ tool: 'echo_args', ok: true, ms: expect.any(Number) });
  });

  const reply = async (text: string) => {
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text });
    expect(answer.status).toBe(200);
    return (answer.body as { reply: { text: string; data: Record<string, unknown> } }).reply;
  };

  it('runs calls the model makes in parallel in one answer, and gives back every result in order', async () => {
    const r = await reply('calls [{"name":"echo_args","args":{"q":"first"}},{"name":"echo_args","args":{"q":"second"}}]');
    expect(r.data['steps']).toEqual([
      { tool: 'echo_args', ok: true, ms: expect.any(Number) },
      { tool: 'echo_args', ok: true, ms: expect.any(Number) },
    ]);
    const second = fake.requests.filter((q) => q.path.endsWith('/chat/completions')).at(-1)!.body as { messages: Array<{ role: string; content: string; tool_call_id?: string }> };
    const results = second.messages.filter((m) => m.role === 'tool');
    expect(results.map((m) => (JSON.parse(m.content) as { args: { q: string } }).args.q)).toEqual(['first', 'second']);
    expect(results.map((m) => m.tool_call_id)).toEqual([expect.stringMatching(/_0$/), expect.stringMatching(/_1$/)]);
  });

  it('turns malformed JSON arguments and a call to an unknown tool into error results the model sees', async () => {
    const r = await reply('calls [{"name":"echo_args","raw":"{\\"q\\": "},{"name":"no_such_tool","args":{}}]');
    expect(r.data['steps']).toEqual([
      { tool: 'echo_args', ok: false, ms: 0, error: 'invalid_json' },
      { tool: 'no_such_tool', ok: false, ms: 0, error: 'unknown_tool' },
    ]);
    expect(r.text).toContain('unknown_tool');
  });

  it('ends the run of a model that never stops calling with a budget, and still answers', async () => {
    const r = await reply('call-forever echo_args {"q":"again"}');
    expect(r.data['stopReason']).toBe('max_steps');
    expect(r.data['steps']).toEqual([
      { tool: 'echo_args', ok: true, ms: expect.any(Number) },
      { tool: 'echo_args', ok: true, ms: expect.any(Number) },
    ]);
    expect(r.text).toContain('tool said');
  });
});
