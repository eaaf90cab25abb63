/**
 * Agent memory through a running Pincer with the OpenAI-compatible fake LLM (which calls a
 * tool when the user writes `call <tool> <json>`, and answers `tool said <result>`).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm, type RecordedRequest } from '../support/fake-llm.js';
import { eventually, LogCapture, postJson, startPincer, tempDir, testConfig } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';

type Sent = Array<{ role: string; content: string | null }>;
const sentMessages = (r: RecordedRequest): Sent => (r.body as { messages: Sent }).messages;
const isSummaryCall = (r: RecordedRequest) => r.path.endsWith('/chat/completions') && String(sentMessages(r)[0]?.content).startsWith('You summarise');

/** The same walk through a running Pincer on each backend; `store` opens one (and its cleanup). */
function describeMemoryE2e(backend: string, store: () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>): void {
  describe(`agent memory through a running Pincer: ${backend}`, () => {
    let fake: FakeLlm;
    let drop: (() => Promise<void>) | undefined;
    let pincer: Pincer;
    let url: string;
    let cleanup: () => void;
    const conversationId = 'mem-e2e';
    const say = async (text: string) => {
      const answer = await postJson(`${url}/v1/messages?wait=20`, { text, conversationId, sender: 'ann' });
      expect(answer.status).toBe(200);
      return answer.body as { id: string; reply: { text: string; data: Record<string, unknown> } };
    };
    const lastAnswerCall = () => fake.requests.filter((r) => r.path.endsWith('/chat/completions') && !isSummaryCall(r)).at(-1)!;
    /** The prompt of the last answer the model was asked for (not a summary). */
    const lastPrompt = () => sentMessages(lastAnswerCall());
    const pinnedFacts = () => lastPrompt().find((m) => m.role === 'system' && String(m.content).startsWith('What the person'))?.content ?? '';

    beforeAll(async () => {
      fake = await FakeLlm.start();
      const dir = tempDir();
      cleanup = dir.cleanup;
      writeFileSync(
        path.join(dir.dir, 'pincer.config.yaml'),
        `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ], history_tokens: 20 }\nmemory: { summaries: { block_turns: 2 } }\n`,
      );
      const opened = await store();
      drop = opened.drop;
      pincer = await Pincer.create({ config: testConfig(dir.dir, opened.env), logDestination: new LogCapture(), env: {} });
      url = await pincer.start();
    });
    afterAll(async () => {
      await pincer?.close();
      await fake?.close();
      await drop?.();
      cleanup?.();
    });

    it('offers the memory tools, and memory_search finds an older turn with when and who', async () => {
      await say('my favourite colour is turquoise');
      for (let i = 0; i < 4; i++) await say(`small talk number ${i}`);
      const { reply } = await say('call memory_search {"query":"TURQUOISE colour"}');
      expect(reply.data['steps']).toEqual([{ tool: 'memory_search', ok: true, ms: expect.any(Number) }]);
      expect(reply.text).toContain('tool said');
      expect(reply.text).toContain('my favourite colour is turquoise');
      expect(reply.text).toContain('"sender":"ann"');
      expect(reply.text).toMatch(/"when":"\d{4}-\d\d-\d\dT/);
      const offered = (lastAnswerCall().body as { tools?: Array<{ function: { name: string } }> }).tools?.map((t) => t.function.name);
      expect(offered).toEqual(expect.arrayContaining(['memory_search', 'memory_save', 'memory_forget']));
    });

    it('saves a fact with memory_save and /remember, pins them into later prompts, and /forget takes one back', async () => {
      const saved = await say('call memory_save {"fact":"prefers answers in French"}');
      expect(saved.reply.text).toContain('"saved":true');
      expect((await say('/remember I live in Oslo')).reply.text).toMatch(/I will remember that/);
      await say('what do you know?');
      expect(pinnedFacts()).toContain('- prefers answers in French');
      expect(pinnedFacts()).toContain('- I live in Oslo');
      expect(lastPrompt()[0]?.role).toBe('system'); // the system prompt stays first
      expect((await say('/forget oslo')).reply.text).toBe('Forgotten (1 fact).');
      await say('and now?');
      expect(pinnedFacts()).not.toContain('Oslo');
      expect(pinnedFacts()).toContain('French');
      // Another sender sees none of ann's facts.
      await postJson(`${url}/v1/messages?wait=20`, { text: 'hello from bob', conversationId, sender: 'bob' });
      expect(pinnedFacts()).toBe('');
    });

    it('summarises turns that fell out of the history window after the reply, and puts the summaries in later prompts', async () => {
      await eventually(() => fake.requests.filter(isSummaryCall).length, (n) => n > 0, 10_000, 'a summary call');
      await pincer.memory!.idle();
      await say('anything else?');
      const summaries = lastPrompt().find((m) => m.role === 'system' && String(m.content).startsWith('Summaries'));
      expect(summaries?.content).toContain('echo: The conversation so far');
      // The summary call saw raw turns only.
      for (const r of fake.requests.filter(isSummaryCall)) expect(JSON.stringify(sentMessages(r)[1])).not.toContain('Summaries of earlier');
    });

    it('DELETE /v1/conversations/:id/memory removes summaries, the index and the facts, and nothing is rebuilt', async () => {
      await pincer.memory!.idle();
      const summaryCallsBefore = fake.requests.filter(isSummaryCall).length;
      const deleted = await fetch(`${url}/v1/conversations/${conversationId}/memory`, { method: 'DELETE' });
      expect(deleted.status).toBe(200);
      const counts = (await deleted.json()) as { id: string; summaries: number; turns: number; facts: number };
      expect(counts.id).toBe(conversationId);
      expect(counts.summaries).toBeGreaterThan(0);
      expect(counts.turns).toBeGreaterThan(0);
      expect(counts.facts).toBe(1);

      const { reply } = await say('call memory_search {"query":"turquoise"}');
      expect(reply.text).toContain('"results":[]');
      await pincer.memory!.idle();
      await say('still there?');
      const prompt = JSON.stringify(lastPrompt());
      expect(prompt).not.toContain('Summaries of earlier');
      expect(pinnedFacts()).toBe('');
      await say('one more');
      await say('and another');
      await pincer.memory!.idle();
      // Turns from before the deletion are never summarised again.
      for (const r of fake.requests.filter(isSummaryCall).slice(summaryCallsBefore)) {
        expect(JSON.stringify(sentMessages(r))).not.toMatch(/small talk|favourite colour/);
      }
    });

    it('counts memory operations in /metrics', async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const value = (labels: string) => Number(text.split('\n').find((l) => l.startsWith(`pincer_memory_operations_total{${labels}} `))?.split(' ')[1] ?? NaN);
      expect(value('op="search",outcome="found"')).toBe(1);
      expect(value('op="search",outcome="none"')).toBe(1);
      expect(value('op="remember",outcome="added"')).toBe(2);
      expect(value('op="forget",outcome="removed"')).toBe(1);
      expect(value('op="delete",outcome="ok"')).toBe(1);
      expect(value('op="summary",outcome="made"')).toBeGreaterThan(0);
    });

    it('lists the route in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      expect(Object.keys(doc.paths['/v1/conversations/{id}/memory'] ?? {})).toEqual(['delete']);
    });
  });
}

describeMemoryE2e('sqlite', async () => ({ env: {}, drop: async () => undefined }));
describeMemoryE2e('postgres', async () => {
  const schema = await freshSchema();
  return { env: { PINCER_STORE: storeUrl(schema) }, drop: () => dropSchema(schema) };
});

describe('agent memory with only the built-in model, and turned off', () => {
  it('keeps /remember and /forget but offers no memory tools and makes no summaries with only the built-in model', async () => {
    const bot = await startPincer();
    try {
      expect([...bot.pincer.registry.tools.keys()].filter((n) => n.startsWith('memory_'))).toEqual([]);
      expect(bot.pincer.memory?.summarizes).toBe(false);
      const answer = await postJson(`${bot.url}/v1/messages?wait=20`, { text: '/remember I like tea', sender: 'ann' });
      expect(answer.body.reply.text).toMatch(/I will remember that/);
    } finally {
      await bot.close();
    }
  });

  it('has no memory commands and answers DELETE memory with MEMORY_DISABLED when memory.enabled is false', async () => {
    const bot = await startPincer({ PINCER_MEMORY_ENABLED: 'false' });
    try {
      expect(bot.pincer.registry.commands.has('remember')).toBe(false);
      const deleted = await fetch(`${bot.url}/v1/conversations/any/memory`, { method: 'DELETE' });
      expect(deleted.status).toBe(404);
      expect(((await deleted.json()) as { error: { code: string } }).error.code).toBe('MEMORY_DISABLED');
    } finally {
      await bot.close();
    }
  });
});
