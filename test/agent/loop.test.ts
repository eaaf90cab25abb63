import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGETS, type AgentBudgets } from '../../src/agent/budgets.js';
import { COULD_NOT_FINISH, runToolLoop, type RunLoopOptions } from '../../src/agent/loop.js';
import { ArgumentValidators } from '../../src/agent/tool-call.js';
import type { JsonObject, JsonValue } from '../../src/json.js';
import type { ChatMessage, GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';
import type { Tool } from '../../src/pipeline/types.js';

/** A model whose every answer is scripted from the request it gets. */
function scripted(answer: (request: GenerateRequest, call: number) => { text?: string; calls?: Array<{ name: string; args: string | JsonObject }> }): LanguageModel & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    id: 'test/scripted',
    provider: 'test',
    requests,
    doGenerate: () => Promise.reject(new Error('stream only')),
    async *doStream(request): AsyncIterable<StreamPart> {
      requests.push({ ...request, messages: [...request.messages] });
      const { text = '', calls = [] } = answer(request, requests.length - 1);
      if (text) yield { type: 'text-delta', delta: text };
      for (const [i, c] of calls.entries()) yield { type: 'tool-call', toolCall: { id: `c${requests.length}_${i}`, name: c.name, arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args) } };
      yield { type: 'finish', finishReason: calls.length > 0 ? 'tool-calls' : 'stop', usage: { inputTokens: 10, outputTokens: 5 } };
    },
  };
}

function tool(name: string, execute: (args: JsonObject, signal: AbortSignal) => Promise<JsonValue> | JsonValue, effect: 'read' | 'write' = 'read', parameters: JsonObject = { type: 'object', properties: { q: { type: 'string' } }, additionalProperties: false }): Tool {
  return { name, description: `the ${name} tool`, parameters, effect, execute: async (args, t) => execute(args, t.signal) } as Tool;
}

const tools = (...list: Tool[]) => new Map(list.map((t) => [t.name, t]));
const user: ChatMessage[] = [{ role: 'user', content: 'hello' }];

function run(model: LanguageModel, toolMap: Map<string, Tool>, budgets: Partial<AgentBudgets> = {}, extra: Partial<RunLoopOptions> = {}) {
  return runToolLoop({ model, messages: user, tools: toolMap, budgets: { ...DEFAULT_BUDGETS, ...budgets }, context: { messageId: 'm1' }, signal: new AbortController().signal, validators: new ArgumentValidators(), ...extra });
}

/** The tool results the model was given in its last request, by call order. */
const resultsSeen = (model: { requests: GenerateRequest[] }) => model.requests.at(-1)!.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content) as unknown);

describe('the tool loop', () => {
  it('runs the calls the model asks for and gives their results back until it answers', async () => {
    const model = scripted((_r, n) => (n === 0 ? { calls: [{ name: 'lookup', args: { q: 'order 42' } }] } : { text: 'Order 42 has shipped.' }));
    const result = await run(model, tools(tool('lookup', (args) => ({ status: 'shipped', for: args['q'] ?? null }))));
    expect(result).toMatchObject({ text: 'Order 42 has shipped.', stopReason: 'done', modelCalls: 2, steps: [{ tool: 'lookup', ok: true }], usage: { inputTokens: 20, outputTokens: 10 } });
    expect(model.requests[0]!.tools?.map((t) => t.name)).toEqual(['lookup']);
    const [assistant, result1] = model.requests[1]!.messages.slice(1);
    expect(assistant).toMatchObject({ role: 'assistant', toolCalls: [{ name: 'lookup' }] });
    expect(result1).toMatchObject({ role: 'tool', toolCallId: 'c1_0', toolName: 'lookup', content: '{"status":"shipped","for":"order 42"}' });
  });

  it('runs reads of one step together and a write alone, after the calls before it, in the model order', async () => {
    const log: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const slowRead = tool('slow', async () => {
      log.push('slow start');
      await gate;
      log.push('slow end');
      return 1;
    });
    const fastRead = tool('fast', () => {
      log.push('fast');
      release();
      return 2;
    });
    const write = tool(
      'write',
      () => {
        log.push('write');
        return 3;
      },
      'write',
    );
    const model = scripted((_r, n) => (n === 0 ? { calls: [{ name: 'slow', args: {} }, { name: 'fast', args: {} }, { name: 'write', args: {} }] } : { text: 'ok' }));
    const result = await run(model, tools(slowRead, fastRead, write));
    // fast ran while slow waited (together); write only after both ended.
    expect(log).toEqual(['slow start', 'fast', 'slow end', 'write']);
    expect(resultsSeen(model)).toEqual([1, 2, 3]);
    expect(result.steps.map((s) => s.tool)).toEqual(['fast', 'slow', 'write']);
  });

  it('turns every kind of bad call into an error result the model sees, never a thrown error', async () => {
    const model = scripted((_r, n) =>
      n === 0
        ? {
            calls: [
              { name: 'lookup', args: '{"q": ' },
              { name: 'lookup', args: { q: 7 } },
              { name: 'nope', args: '{}' },
              { name: 'boom', args: '{}' },
              { name: 'hang', args: '{}' },
              { name: 'gone', args: '{}' },
            ],
          }
        : { text: 'sorry' },
    );
    const gone = tool('gone', () => {
      throw Object.assign(new Error('handler gone'), { code: 'PLUGIN_HANDLER_GONE' });
    });
    const result = await run(
      model,
      tools(
        tool('lookup', () => 'never'),
        tool('boom', () => {
          throw new Error('database down');
        }),
        tool('hang', (_a, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))),
        gone,
      ),
      { toolTimeoutMs: 200 },
    );
    expect(result.stopReason).toBe('done');
    expect((resultsSeen(model) as Array<{ error: { code: string; message: string } }>).map((r) => r.error.code)).toEqual(['invalid_json', 'invalid_arguments', 'unknown_tool', 'tool_failed', 'tool_timeout', 'tool_unavailable']);
    const messages = (resultsSeen(model) as Array<{ error: { message: string } }>).map((r) => r.error.message);
    expect(messages[1]).toBe('arguments.q must be string');
    expect(messages[2]).toMatch(/there is no tool "nope"; the tools are: lookup, boom, hang, gone/);
    expect(messages[3]).toBe('boom failed: database down');
    expect(result.steps.every((s) => !s.ok)).toBe(true);
  });

  it('stops at max_steps with one tool-free call to finish', async () => {
    const model = scripted((request) => (request.tools ? { calls: [{ name: 'lookup', args: { q: String(request.messages.length) } }] } : { text: 'Here is what I found so far.' }));
    const result = await run(model, tools(tool('lookup', () => 'more')), { maxSteps: 4 });
    expect(result).toMatchObject({ stopReason: 'max_steps', modelCalls: 4, text: 'Here is what I found so far.' });
    expect(model.requests.map((r) => r.tools !== undefined)).toEqual([true, true, true, false]);
    expect(result.steps).toHaveLength(3);
  });

  it('stops at max_tool_calls, the calls past the limit answered as not run', async () => {
    const model = scripted((request) => (request.tools ? { calls: [1, 2, 3].map((i) => ({ name: 'lookup', args: { q: `${request.messages.length}.${i}` } })) } : { text: 'done for now' }));
    const result = await run(model, tools(tool('lookup', () => 'x')), { maxToolCalls: 4 });
    expect(result.stopReason).toBe('max_tool_calls');
    expect(result.steps.filter((s) => s.ok)).toHaveLength(4);
    expect(result.steps.filter((s) => s.code === 'budget')).toHaveLength(2);
  });

  it('blocks the same call the third time and ends the run at the second block', async () => {
    let runs = 0;
    const model = scripted((request) => (request.tools ? { calls: [{ name: 'lookup', args: { q: 'same' } }] } : { text: 'I keep getting the same answer.' }));
    const result = await run(model, tools(tool('lookup', () => ++runs)));
    expect(runs).toBe(2);
    expect(result.stopReason).toBe('loop');
    expect(result.steps.map((s) => s.code ?? 'ok')).toEqual(['ok', 'ok', 'loop_blocked', 'loop_blocked']);
    expect(result.text).toBe('I keep getting the same answer.');
  });

  it('counts the same arguments in another key order as the same call', async () => {
    let runs = 0;
    const model = scripted((request, n) => (request.tools ? { calls: [{ name: 'pair', args: n % 2 ? '{"a":1,"b":2}' : '{"b":2,"a":1}' }] } : { text: 'stop' }));
    const pair = tool('pair', () => ++runs, 'read', { type: 'object' });
    expect((await run(model, tools(pair))).stopReason).toBe('loop');
    expect(runs).toBe(2);
  });

  it('stops at token_budget', async () => {
    const model = scripted((request) => (request.tools ? { calls: [{ name: 'lookup', args: { q: String(request.messages.length) } }] } : { text: 'out of tokens' }));
    const result = await run(model, tools(tool('lookup', () => 1)), { tokenBudget: 30 });
    // 15 tokens a call: the second call reaches 30.
    expect(result).toMatchObject({ stopReason: 'token_budget', modelCalls: 3, text: 'out of tokens' });
  });

  it('stops at time_budget, aborting the tool still running, and still finishes', async () => {
    let aborted = false;
    const model = scripted((request) => (request.tools ? { calls: [{ name: 'slow', args: {} }] } : { text: 'that took too long' }));
    const slow = tool('slow', (_a, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted'))))));
    const result = await run(model, tools(slow), { timeBudgetMs: 150, toolTimeoutMs: 60_000 });
    expect(aborted).toBe(true);
    expect(result).toMatchObject({ stopReason: 'time_budget', text: 'that took too long' });
  });

  it('says it could not finish when the finishing call fails', async () => {
    const model = scripted((request) => {
      if (!request.tools) throw new Error('model down');
      return { calls: [{ name: 'lookup', args: { q: String(request.messages.length) } }] };
    });
    const result = await run(model, tools(tool('lookup', () => 1)), { maxSteps: 2 });
    expect(result).toMatchObject({ stopReason: 'max_steps', text: COULD_NOT_FINISH });
  });

  it("throws when the message's own signal ends the run (a shutdown), not a budget", async () => {
    const controller = new AbortController();
    const model = scripted(() => ({ calls: [{ name: 'stall', args: {} }] }));
    const stall = tool('stall', (_a, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))));
    const running = run(model, tools(stall), {}, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    await expect(running).rejects.toThrow(/shutting down/);
  });

  it('reports each model call and tool result as it happens', async () => {
    const seen: string[] = [];
    const model = scripted((_r, n) => (n === 0 ? { text: 'Looking. ', calls: [{ name: 'lookup', args: {} }] } : { text: 'Found it.' }));
    const result = await run(model, tools(tool('lookup', () => 1)), {}, { observer: { step: (i) => seen.push(`step ${i}`), tool: (s) => seen.push(`tool ${s.tool} ${s.ok}`), text: (d) => seen.push(`text ${d.trim()}`) } });
    expect(seen).toEqual(['step 0', 'text Looking.', 'tool lookup true', 'step 1', 'text Found it.']);
    expect(result.text).toBe('Looking.\n\nFound it.');
  });

  it('gives each call what it serves and a key that is the same when the message is delivered again', async () => {
    const seen: unknown[] = [];
    const probe: Tool = { name: 'probe', description: 'probe', parameters: { type: 'object' }, effect: 'write', execute: async (_args, t) => (seen.push({ key: t.idempotencyKey, conversation: t.conversationId, sender: t.sender, channel: t.channel, call: t.toolCallId }), 'ok') } as Tool;
    const script = (_r: GenerateRequest, n: number) => (n === 0 ? { calls: [{ name: 'probe', args: '{}' }, { name: 'probe', args: '{"a":1}' }] } : { text: 'ok' });
    const context = { messageId: 'm9', conversationId: 'telegram:default:42', sender: 'telegram:7', channel: 'telegram' };
    await run(scripted(script), tools(probe), {}, { context });
    await run(scripted(script), tools(probe), {}, { context: { ...context, attempt: 2 } });
    expect(seen.slice(0, 2)).toEqual([
      { key: 'm9:0:0', conversation: 'telegram:default:42', sender: 'telegram:7', channel: 'telegram', call: 'c1_0' },
      { key: 'm9:0:1', conversation: 'telegram:default:42', sender: 'telegram:7', channel: 'telegram', call: 'c1_1' },
    ]);
    expect(seen.slice(2).map((s) => (s as { key: string }).key)).toEqual(['m9:0:0', 'm9:0:1']);
  });

  it("gives a tool its own timeout when it declares one", async () => {
    const hang = { ...tool('hang', (_a, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))), timeoutMs: 50 } as Tool;
    const model = scripted((_r, n) => (n === 0 ? { calls: [{ name: 'hang', args: {} }] } : { text: 'gave up' }));
    const result = await run(model, tools(hang), { toolTimeoutMs: 60_000 });
    expect(result.steps).toEqual([expect.objectContaining({ tool: 'hang', ok: false, code: 'tool_timeout' })]);
    expect((resultsSeen(model)[0] as { error: { message: string } }).error.message).toBe('hang gave no result within 50 ms');
  });
});
