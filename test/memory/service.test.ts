import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { MemoryService } from '../../src/memory/service.js';
import { memoryCommands } from '../../src/memory/tools.js';
import type { ChatMessage, GenerateRequest, GenerateResult, LanguageModel, StreamPart } from '../../src/models/types.js';
import { conversationHistory } from '../../src/responders/history.js';
import { modelResponder } from '../../src/responders/model.js';
import { PostgresQueue } from '../../src/store/postgres/queue.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import type { ClaimedMessage, MessageRecord, Queue } from '../../src/store/types.js';
import { ManualClock, queueOptions, tempDir } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';

const log = pino({ level: 'silent' });

/** A model whose answers a test decides; `gate` holds every call until released. */
class ScriptedModel implements LanguageModel {
  readonly id = 'test/scripted';
  readonly provider = 'test';
  readonly requests: GenerateRequest[] = [];
  answer: (request: GenerateRequest) => string = () => 'a summary';
  gate: Promise<void> | undefined;
  inFlight = 0;
  maxInFlight = 0;

  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    this.requests.push(request);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await this.gate;
      return { text: this.answer(request), finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } };
    } finally {
      this.inFlight--;
    }
  }
  async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    const { text, ...rest } = await this.doGenerate(request);
    yield { type: 'text-delta', delta: text };
    yield { type: 'finish', ...rest };
  }
}

function memoryConfig(overrides: Record<string, unknown> = {}) {
  return configSchema.parse({ memory: { summaries: { block_turns: 2 }, ...overrides } }).memory;
}

describe('MemoryService', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const sqlite = (clock = new ManualClock()): Queue => {
    const { dir, cleanup } = tempDir();
    const queue = new SqliteQueue(path.join(dir, 'm.db'), queueOptions({ now: clock.now }));
    cleanups.push(cleanup, () => queue.close());
    return queue;
  };
  const service = (queue: Queue, model: LanguageModel | undefined, historyTokens = 12, overrides: Record<string, unknown> = {}) => {
    const memory = new MemoryService({ store: queue.memory, messages: queue, config: memoryConfig(overrides), historyTokens, ...(model && { model }), log });
    cleanups.push(() => memory.close());
    return memory;
  };
  /** `n` finished turns of `c`, then one message being answered: its record. */
  const conversation = async (queue: Queue, c: string, n: number, sender = 'telegram:7'): Promise<ClaimedMessage> => {
    for (let i = 0; i < n; i++) {
      await queue.enqueue({ text: `turn ${i}`, conversationId: c, channel: 'telegram', sender, priority: 'normal' });
      const [claimed] = await queue.claim(1);
      await queue.complete(claimed!, { analysis: {}, reply: { text: `answer ${i}`, responder: 't' }  });
    }
    const { id } = await queue.enqueue({ text: 'and now?', conversationId: c, channel: 'telegram', sender, priority: 'normal' });
    const [current] = await queue.claim(1);
    expect(current?.id).toBe(id);
    return current!;
  };
  const summaryOf = (messages: readonly ChatMessage[]) => messages.find((m) => m.role === 'system' && m.content.startsWith('Summaries'))?.content;

  it('lays the prompt out: system prompt, pinned facts, summaries before the history window, the window, the message', async () => {
    const queue = sqlite();
    const model = new ScriptedModel();
    // Each turn costs 6 approximate tokens ("turn i" 3, "answer i" 3): 12 keeps the last two in the window.
    const memory = service(queue, model);
    const current = await conversation(queue, 'c', 7);
    await memory.remember({ channel: 'telegram', senderId: 'telegram:7' }, 'prefers short answers');
    model.answer = (request) => `summary of ${/turn (\d)[\s\S]*turn (\d)/.exec(request.messages[1]!.content)!.slice(1).join('-')}`;

    expect(summaryOf(await memory.prompt(current))).toBeUndefined(); // none made yet
    memory.onStatus(current.id, 'done');
    await memory.idle();
    // Turns 0-4 fell out of the window: two whole blocks of two; turn 4 waits for its block to fill.
    expect(model.requests).toHaveLength(2);

    const responder = modelResponder({ model, systemPrompt: 'You are a bot.', history: conversationHistory(queue, 12), memory: (m) => memory.prompt(m) });
    model.answer = () => 'fine';
    await responder.respond({ message: current, analysis: {}, signal: new AbortController().signal, log, stream: () => undefined });
    const sent = model.requests.at(-1)!.messages;
    expect(sent.map((m) => [m.role, m.content.split('\n')[0]])).toEqual([
      ['system', 'You are a bot.'],
      ['system', 'What the person you are talking to asked you to remember (newest and most relevant first):'],
      ['system', 'Summaries of earlier parts of this conversation, oldest first:'],
      ['user', 'turn 5'],
      ['assistant', 'answer 5'],
      ['user', 'turn 6'],
      ['assistant', 'answer 6'],
      ['user', 'and now?'],
    ]);
    expect(sent[1]!.content).toContain('- prefers short answers');
    expect(sent[2]!.content).toBe('Summaries of earlier parts of this conversation, oldest first:\n- summary of 0-1\n- summary of 2-3');
  });

  it('summarises raw turns only, never a summary, and each range once even when asked twice at once', async () => {
    const queue = sqlite();
    const model = new ScriptedModel();
    let release!: () => void;
    model.gate = new Promise((resolve) => (release = resolve));
    const memory = service(queue, model, 0);
    const current = await conversation(queue, 'c', 4);
    model.answer = () => 'SUMMARY-TEXT';
    memory.onStatus(current.id, 'processing'); // not finished: nothing yet
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    release();
    await memory.idle();
    expect(model.requests).toHaveLength(2); // two blocks, one call each
    const inputs = model.requests.map((r) => r.messages[1]!.content);
    expect(inputs[0]).toContain('turn 0');
    expect(inputs[0]).toContain('answer 1');
    expect(inputs[1]).toContain('turn 3');
    for (const input of inputs) expect(input).not.toContain('SUMMARY-TEXT');
    expect(await queue.memory.listSummaries('c', current.id)).toHaveLength(2);
  });

  it('summarises at most memory.summaries.concurrency conversations at once', async () => {
    const queue = sqlite();
    const model = new ScriptedModel();
    let release!: () => void;
    model.gate = new Promise((resolve) => (release = resolve));
    const memory = service(queue, model, 0);
    const messages: MessageRecord[] = [];
    for (const c of ['one', 'two', 'three']) {
      const current = await conversation(queue, c, 2);
      await queue.complete(current, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      messages.push(current);
    }
    for (const m of messages) {
      await memory.prompt(m);
      memory.onStatus(m.id, 'done');
    }
    release();
    await memory.idle();
    expect(model.maxInFlight).toBe(1);
    for (const m of messages) expect(await queue.memory.listSummaries(m.conversationId, m.id)).toHaveLength(1);
  });

  it('puts nothing in the prompt for a failed summary, and makes it on a later reply', async () => {
    const queue = sqlite();
    const model = new ScriptedModel();
    const memory = service(queue, model, 0);
    const current = await conversation(queue, 'c', 2);
    model.answer = () => {
      throw new Error('vendor down');
    };
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    await memory.idle();
    const prompt = await memory.prompt(current);
    expect(summaryOf(prompt)).toBeUndefined();
    expect(JSON.stringify(prompt)).not.toMatch(/unavailable|failed|error/i);
    expect(await queue.memory.listSummaries('c', current.id)).toEqual([]);
    // An empty answer is no summary either.
    model.answer = () => '   ';
    memory.onStatus(current.id, 'done');
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    await memory.idle();
    expect(await queue.memory.listSummaries('c', current.id)).toEqual([]);
    model.answer = () => 'they talked';
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    await memory.idle();
    expect(summaryOf(await memory.prompt(current))).toContain('- they talked');
  });

  it('pins only the facts that fit memory.facts_tokens, the most relevant first, and only the sender\'s own', async () => {
    const clock = new ManualClock();
    const queue = sqlite(clock);
    const memory = service(queue, undefined, 0, { facts_tokens: 6 });
    const current = await conversation(queue, 'c', 0);
    expect(await memory.prompt(current)).toEqual([]); // nothing to add: no empty parts
    const ann = { channel: 'telegram', senderId: 'telegram:7' };
    await memory.remember(ann, 'drinks green tea');
    clock.advance(1000);
    await memory.remember(ann, 'owns a bike');
    await memory.remember({ channel: 'telegram', senderId: 'telegram:8' }, 'someone else entirely');
    const pinned = (await memory.prompt({ ...current, text: 'any tea recommendations?' }))[0]!.content;
    expect(pinned).toContain('- drinks green tea');
    expect(pinned).not.toContain('bike'); // 5 + 4 tokens: only one fits in 6
    expect(pinned).not.toContain('someone else');
    expect((await memory.prompt({ ...current, text: 'hello' }))[0]!.content).toContain('- owns a bike'); // the newest when none is relevant
  });

  it('indexes in batches before a search until caught up, and refuses a query without words', async () => {
    const queue = sqlite();
    const memory = service(queue, undefined, 0, { index_batch: 2 });
    const current = await conversation(queue, 'c', 5);
    expect((await memory.search('c', 'turn 4')).map((h) => h.text)[0]).toBe('turn 4');
    expect(await memory.search(current.conversationId, 'answer', 50)).toHaveLength(5);
    await expect(memory.search('c', '" * ()')).rejects.toMatchObject({ code: 'MEMORY_QUERY_INVALID' });
  });

  it('makes no summaries without a language model (the built-in one cannot summarise)', async () => {
    const queue = sqlite();
    const memory = service(queue, undefined, 0);
    const current = await conversation(queue, 'c', 4);
    await memory.prompt(current);
    memory.onStatus(current.id, 'done');
    await memory.idle();
    expect(memory.summarizes).toBe(false);
    expect(await queue.memory.listSummaries('c', current.id)).toEqual([]);
  });

  it('keeps one summary per range when two nodes summarise the same conversation at once (PostgreSQL)', async () => {
    const schema = await freshSchema();
    const clock = new ManualClock();
    const a = await PostgresQueue.open(storeUrl(schema), queueOptions({ now: clock.now }));
    const b = await PostgresQueue.open(storeUrl(schema), queueOptions({ now: clock.now }));
    cleanups.push(() => dropSchema(schema), () => a.close(), () => b.close());
    const current = await conversation(a, 'c', 6);
    const models = [new ScriptedModel(), new ScriptedModel()];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const nodes = [service(a, models[0], 0), service(b, models[1], 0)];
    models.forEach((m, i) => {
      m.gate = gate;
      m.answer = () => `by node ${i}`;
    });
    for (const node of nodes) {
      await node.prompt(current);
      node.onStatus(current.id, 'done');
    }
    release();
    await Promise.all(nodes.map((n) => n.idle()));
    const summaries = await a.memory.listSummaries('c', current.id);
    expect(summaries.map((s) => s.turns)).toEqual([2, 2, 2]);
    expect(new Set(summaries.map((s) => s.fromSeq)).size).toBe(3);
    // Both nodes searching at once index each turn once.
    const [hitsA, hitsB] = await Promise.all([nodes[0]!.search('c', 'turn'), nodes[1]!.search('c', 'turn', 20)]);
    expect(hitsA).toHaveLength(5);
    expect(hitsB).toHaveLength(6);
  });

  it('answers /remember and /forget for the message\'s own sender, with coded refusals', async () => {
    const queue = sqlite();
    const memory = service(queue, undefined, 0, { max_facts: 2, max_fact_length: 30 });
    const [remember, forget] = memoryCommands(memory);
    const base = { analysis: {}, signal: new AbortController().signal, log };
    const from = async (sender: string | null, text: string) => ({ ...base, args: text, message: { ...(await conversation(queue, `c-${Math.random()}`, 0, sender ?? 'x')), sender } });
    expect(await remember!.run(await from('telegram:1', 'I like tea'))).toMatch(/I will remember that/);
    expect(await remember!.run(await from('telegram:1', 'I like tea'))).toBe('I knew that already.');
    expect(await remember!.run(await from('telegram:1', 'x'.repeat(31)))).toMatch(/MEMORY_FACT_INVALID/);
    expect(await remember!.run(await from('telegram:1', 'my cat is Tom'))).toMatch(/I will remember/);
    expect(await remember!.run(await from('telegram:1', 'one more'))).toMatch(/MEMORY_FACTS_FULL/);
    expect(await remember!.run(await from(null, 'anything'))).toMatch(/MEMORY_NO_SENDER/);
    expect(await remember!.run(await from('telegram:1', ''))).toBe('What I remember about you:\n- my cat is Tom\n- I like tea');
    expect(await remember!.run(await from('telegram:2', ''))).toMatch(/I remember nothing about you yet/);
    expect(await forget!.run(await from('telegram:2', 'all'))).toBe('I had nothing like that remembered.');
    expect(await forget!.run(await from('telegram:1', 'CAT'))).toBe('Forgotten (1 fact).');
    expect(await forget!.run(await from('telegram:1', 'all'))).toBe('Forgotten (1 fact).');
    expect(await forget!.run(await from('telegram:1', ''))).toMatch(/Say what to forget/);
  });
});
