import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_BUDGETS } from '../../src/agent/budgets.js';
import { storeJournal } from '../../src/agent/journal.js';
import { runToolLoop, type RunLoopOptions } from '../../src/agent/loop.js';
import { ArgumentValidators } from '../../src/agent/tool-call.js';
import type { JsonObject } from '../../src/json.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';
import type { Tool } from '../../src/pipeline/types.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import type { ClaimedMessage } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';

/** A model that calls `tool` first, then answers with what it was told. */
function callsThenAnswers(tool: string): LanguageModel & { calls: number } {
  const model = {
    id: 'test/journal',
    provider: 'test',
    calls: 0,
    doGenerate: () => Promise.reject(new Error('stream only')),
    async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
      model.calls++;
      const result = request.messages.filter((m) => m.role === 'tool').at(-1);
      if (result || !request.tools) {
        yield { type: 'text-delta', delta: `told: ${result?.content ?? 'nothing'}` };
        yield { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } };
        return;
      }
      yield { type: 'tool-call', toolCall: { id: `c${model.calls}`, name: tool, arguments: '{}' } };
      yield { type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 3, outputTokens: 1 } };
    },
  };
  return model;
}

const tool = (name: string, execute: Tool['execute'], extra: Partial<Tool> = {}): Tool => ({ name, description: name, parameters: { type: 'object' }, effect: 'write', execute, ...extra });

describe('the tool loop with its journal', () => {
  let clock: ManualClock;
  let queue: SqliteQueue;
  beforeEach(() => {
    clock = new ManualClock();
    queue = new SqliteQueue(':memory:', queueOptions({ now: clock.now, leaseMs: 1_000 }));
  });
  afterEach(async () => {
    await queue.close();
  });

  const claim = async (conversationId = 'c1'): Promise<ClaimedMessage> => {
    await queue.enqueue({ text: 'do it', conversationId, channel: 'api', priority: 'normal' });
    const [c] = await queue.claim(1);
    return c!;
  };
  const redeliver = async (): Promise<ClaimedMessage> => {
    clock.advance(1_001);
    const [c] = await queue.claim(1);
    return c!;
  };
  const run = (model: LanguageModel, tools: Tool[], c: ClaimedMessage, signal = new AbortController().signal, extra: Partial<RunLoopOptions> = {}) =>
    runToolLoop({
      model,
      messages: [{ role: 'user', content: 'do it' }],
      tools: new Map(tools.map((t) => [t.name, t])),
      budgets: DEFAULT_BUDGETS,
      context: { messageId: c.id },
      signal,
      validators: new ArgumentValidators(),
      journal: storeJournal(queue.agent, c),
      ...extra,
    });

  it('writes every model call and tool call down, and a second run of the same message replays all of it', async () => {
    const executed: string[] = [];
    const book = tool('book', async (_args: JsonObject, t) => (executed.push(t.idempotencyKey ?? ''), 'booked'));
    const first = await claim();
    const model = callsThenAnswers('book');
    const one = await run(model, [book], first);
    expect(one).toMatchObject({ text: 'told: booked', replayed: 0 });
    expect((await queue.agent.journal(first.id)).map((e) => [e.step, e.call, e.state])).toEqual([
      [0, -1, 'finished'],
      [0, 0, 'finished'],
      [1, -1, 'finished'],
    ]);
    const again = await run(model, [book], await redeliver());
    expect(again).toMatchObject({ text: 'told: booked', replayed: 3, steps: [{ tool: 'book', ok: true }], usage: one.usage });
    expect(model.calls).toBe(2);
    expect(executed).toEqual([`${first.id}:0:0`]);
  });

  it('stops with LEASE_LOST when the message moved to another worker, before recording the result', async () => {
    const stale = await claim();
    let fresh: ClaimedMessage | undefined;
    const book = tool('book', async () => {
      fresh = await redeliver();
      return 'booked';
    });
    await expect(run(callsThenAnswers('book'), [book], stale)).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(fresh!.lease).not.toBe(stale.lease);
    expect((await queue.agent.journal(stale.id)).map((e) => [e.step, e.call, e.state])).toEqual([
      [0, -1, 'finished'],
      [0, 0, 'started'],
    ]);
  });

  it('leaves a call aborted from outside as started: a redelivery reruns a read and tells the model a write is unknown', async () => {
    for (const effect of ['read', 'write'] as const) {
      const controller = new AbortController();
      let runs = 0;
      const hangs = tool(
        'probe',
        (_args, t) => {
          runs++;
          if (runs > 1) return Promise.resolve<string>('second run');
          const aborted = new Promise<string>((resolve) => t.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
          controller.abort(new Error('shutdown'));
          return aborted;
        },
        { effect },
      );
      const first = await claim(`c-${effect}`);
      const model = callsThenAnswers('probe');
      await expect(run(model, [hangs], first, controller.signal)).rejects.toThrow('shutdown');
      const second = await redeliver();
      expect(second.id).toBe(first.id);
      const result = await run(model, [hangs], second);
      await queue.complete(second, { analysis: {}, reply: { text: result.text, responder: 't' } });
      if (effect === 'read') {
        expect(runs).toBe(2);
        expect(result.text).toBe('told: second run');
      } else {
        expect(runs).toBe(1);
        expect(result.steps).toEqual([{ tool: 'probe', ok: false, ms: 0, code: 'outcome_unknown' }]);
        expect(result.text).toContain('outcome_unknown');
      }
    }
  });

  it("runs an approved continuation's call first, with the approval's key, and never twice across a redelivery", async () => {
    const keys: string[] = [];
    const controller = new AbortController();
    const refund = tool('refund', async (args, t) => {
      keys.push(`${t.idempotencyKey}:${JSON.stringify(args)}`);
      controller.abort(new Error('killed'));
      return 'refunded';
    });
    const continuation = { toolCall: { id: 'call_1', name: 'refund', arguments: '{"order":"A-1"}' }, decision: 'approved' as const, by: 'admin', idempotencyKey: 'approval:ap_1' };
    const model = callsThenAnswers('refund');
    const first = await claim('c-cont');
    await expect(run(model, [refund], first, controller.signal, { continuation })).rejects.toThrow('killed');
    // The model was never called: the decided call comes first.
    expect(model.calls).toBe(0);
    const result = await run(model, [refund], await redeliver(), undefined, { continuation });
    expect(keys).toEqual(['approval:ap_1:{"order":"A-1"}']);
    expect(result.steps).toEqual([{ tool: 'refund', ok: false, ms: 0, code: 'outcome_unknown' }]);
    expect(result.text).toContain('outcome_unknown');
  });
});
