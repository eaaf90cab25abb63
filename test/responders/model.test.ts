import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LocalModel } from '../../src/models/local/local-model.js';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/models/types.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { PipelineRegistry } from '../../src/pipeline/registry.js';
import { conversationHistory } from '../../src/responders/history.js';
import { modelResponder, type ModelResponderOptions } from '../../src/responders/model.js';
import type { MessageRecord } from '../../src/store/types.js';
import { LogCapture, messageRecord } from '../support/index.js';

const local = new LocalModel({ botName: 'Testbot', version: '9.9.9' });

/** A model that records its requests and answers "ok", with the warnings given. */
function recording(finish: Partial<Extract<StreamPart, { type: 'finish' }>> = {}): LanguageModel & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    id: 'test/recording',
    provider: 'test',
    requests,
    doGenerate: () => Promise.reject(new Error('unused')),
    async *doStream(request) {
      requests.push(request);
      yield { type: 'text-delta', delta: 'ok' };
      yield { type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 }, ...finish };
    },
  };
}

function pipeline(options: ModelResponderOptions, logs = new LogCapture()) {
  const registry = new PipelineRegistry();
  registry.addResponder(modelResponder(options));
  const log = pino({ level: 'warn' }, logs);
  return (message: MessageRecord, onToken?: (d: string) => void) => new Pipeline(registry, 1000).process(message, { signal: new AbortController().signal, log, onToken });
}

describe('the model responder', () => {
  it('streams the model reply to watchers and stores it with the model, usage and intent', async () => {
    const tokens: string[] = [];
    const { reply } = await pipeline({ model: local, systemPrompt: 'be brief' })(messageRecord('what can you do'), (d) => tokens.push(d));
    expect(tokens.join('')).toBe(reply.text);
    expect(reply).toMatchObject({ responder: 'model', data: { model: 'local/intents', intent: 'capabilities', finishReason: 'stop' } });
  });

  it('fails a stream that ends before its final part instead of storing half a reply', async () => {
    const seen: string[][] = [];
    const cut: LanguageModel = {
      id: 'test/cut',
      provider: 'test',
      doGenerate: () => Promise.reject(new Error('unused')),
      async *doStream(request) {
        seen.push(request.messages.map((m) => m.role));
        yield { type: 'text-delta', delta: 'half a ' };
      },
    };
    await expect(pipeline({ model: cut, systemPrompt: 'be brief' })(messageRecord('hi'))).rejects.toThrow('responder model: test: the reply stream ended before its final part');
    expect(seen).toEqual([['system', 'user']]);
  });

  it('asks for the configured temperature and max tokens, and an OpenAI client\'s own settings win for its message', async () => {
    const model = recording();
    const run = pipeline({ model, settings: { temperature: 0, maxTokens: 200 } });
    await run(messageRecord('plain'));
    await run({ ...messageRecord('from a client'), metadata: { openai: { model: 'pincer', temperature: 0.9, maxTokens: 12 } } });
    await run({ ...messageRecord('odd metadata'), metadata: { openai: { temperature: 'hot', maxTokens: -1 } } });
    expect(model.requests.map((r) => [r.temperature, r.maxTokens])).toEqual([
      [0, 200],
      [0.9, 12],
      [0, 200],
    ]);
    expect(model.requests.every((r) => r.providerOptions === undefined)).toBe(true);
  });

  it('hands the analysis to the built-in model only when told to, so other models\' cache keys do not carry it', async () => {
    const model = recording();
    const message = { ...messageRecord('hello'), analysis: { sentiment: { label: 'negative' } } };
    await pipeline({ model, localAnalysis: true })(message);
    await pipeline({ model })(message);
    expect(model.requests.map((r) => r.providerOptions)).toEqual([{ local: { analysis: { sentiment: { label: 'negative' } } } }, undefined]);
  });

  it('keeps what the model could not honour in the reply\'s data, and logs it once per deployment and setting', async () => {
    const warnings = [{ type: 'unsupported-setting' as const, setting: 'temperature' as const, details: 'ignored' }];
    const logs = new LogCapture();
    const run = pipeline({ model: recording({ warnings, data: { deployment: 'gguf' } }), settings: { temperature: 0.5 } }, logs);
    const first = await run(messageRecord('one'));
    const second = await run(messageRecord('two'));
    expect(first.reply.data).toMatchObject({ deployment: 'gguf', warnings });
    expect(second.reply.data).toMatchObject({ warnings });
    const logged = logs.lines.filter((l) => l.event === 'model.warning');
    expect(logged).toEqual([expect.objectContaining({ deployment: 'gguf', warning: warnings[0], msg: 'model deployment gguf did not honour temperature: ignored (logged once)' })]);
  });
});

describe('conversation history', () => {
  it('reads through a narrow reader: done turns only, never the current message, newest kept within the budget', async () => {
    const record = (id: string, text: string, reply: string | null, state: MessageRecord['state'] = 'done'): MessageRecord => ({
      ...messageRecord(text),
      id,
      state,
      reply: reply === null ? null : { text: reply, responder: 'model' },
    });
    const asked: Array<[string, number]> = [];
    const reader = {
      async latest(conversationId: string, limit: number) {
        asked.push([conversationId, limit]);
        return [record('a', 'one two three', 'four'), record('b', 'failed one', null, 'dead'), record('c', 'five', 'six'), record('now', 'current', null, 'processing')];
      },
    };
    const history = conversationHistory(reader, 4);
    expect(await history('talk', 'now')).toEqual([
      { role: 'user', content: 'five' },
      { role: 'assistant', content: 'six' },
    ]);
    expect(asked).toEqual([['talk', 200]]);
  });

  it('keeps a group message stored for context as a user turn without an answer, with its speaker', async () => {
    const kept: MessageRecord = { ...messageRecord('the build is red'), id: 'g1', state: 'done', reply: null, metadata: { channel: { sender: { id: '7', name: 'Ann', isBot: false } } } };
    const answered: MessageRecord = { ...messageRecord('why?'), id: 'g2', state: 'done', reply: { text: 'a test fails', responder: 'model' } };
    const history = conversationHistory({ latest: async () => [kept, answered] }, 100);
    expect(await history('group', 'now')).toEqual([
      { role: 'user', content: 'Ann: the build is red' },
      { role: 'user', content: 'why?' },
      { role: 'assistant', content: 'a test fails' },
    ]);
  });
});
