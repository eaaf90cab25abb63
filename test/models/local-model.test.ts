import { describe, expect, it } from 'vitest';
import { LocalModel } from '../../src/models/local/local-model.js';
import { NaiveBayes } from '../../src/models/local/naive-bayes.js';
import type { StreamPart } from '../../src/models/types.js';

const model = new LocalModel({ botName: 'Testbot', version: '9.9.9' });
const ask = (content: string, analysis = {}) => model.doGenerate({ messages: [{ role: 'user', content }], providerOptions: { local: { analysis } } });

describe('the built-in model', () => {
  it('recognises phrasings it was not trained on', async () => {
    const cases: Array<[string, string]> = [
      ['Hello!', 'greeting'],
      ['hey how are you doing today', 'how_are_you'],
      ['what can this bot do?', 'capabilities'],
      ['thank you very much', 'thanks'],
      ['who built this bot', 'identity'],
      ['How do I write my own plugin?', 'plugins'],
      ['can I use OpenAI with you', 'connect_llm'],
      ['tell me something funny', 'joke'],
      ['bye for now', 'farewell'],
      ['I need some help please', 'help'],
    ];
    for (const [text, intent] of cases) {
      const analysis = await model.analyze(text);
      expect({ text, intent: analysis.intent }).toEqual({ text, intent });
      expect(analysis.confidence).toBeGreaterThan(0.45);
    }
  });

  it('refuses to guess outside its domain and says how to connect a language model', async () => {
    for (const text of ['What is the capital of France?', 'explain quantum entanglement in detail', 'asdkjh qwe', '']) {
      const result = await ask(text);
      expect(result.data).toMatchObject({ intent: 'unknown' });
      expect(result.text).toMatch(/OPENAI_API_KEY/);
    }
  });

  it('fills its templates and lets the analyzers change its tone', async () => {
    expect((await ask('who are you?')).text).toMatch(/^I am Testbot, a chat bot built on Pincer 9\.9\.9/);
    expect((await ask('I need help', { sentiment: { label: 'negative', score: -0.5 } })).text).toMatch(/^I am sorry if something is frustrating\. Send \/help/);
    expect((await ask('hello', { language: { code: 'es', name: 'Spanish' } })).text).toMatch(/^\(I understand English best; your message looks like Spanish\.\) /);
  });

  it('cuts its reply at maxTokens (a token is a word here), and warns of the settings it cannot honour', async () => {
    const whole = await model.doGenerate({ messages: [{ role: 'user', content: 'what can you do?' }], temperature: 0 });
    expect(whole.warnings).toBeUndefined();
    const cut = await model.doGenerate({ messages: [{ role: 'user', content: 'what can you do?' }], maxTokens: 3, temperature: 0.7, tools: [{ name: 'lookup', parameters: { type: 'object' } }] });
    expect(cut).toMatchObject({ finishReason: 'length', usage: { outputTokens: 3 } });
    expect(whole.text.startsWith(cut.text)).toBe(true);
    expect(cut.warnings).toEqual([
      { type: 'unsupported-setting', setting: 'temperature', details: expect.stringContaining('0.7 was ignored') },
      { type: 'unsupported-setting', setting: 'tools', details: expect.any(String) },
    ]);
  });

  it('streams text deltas, then one finish part with usage', async () => {
    const parts: StreamPart[] = [];
    for await (const part of model.doStream({ messages: [{ role: 'user', content: 'thanks a lot' }] })) parts.push(part);
    const finish = parts.at(-1);
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3 } });
    const text = parts.flatMap((p) => (p.type === 'text-delta' ? [p.delta] : [])).join('');
    expect(text).toBe((await ask('thanks a lot')).text);
    expect(parts.filter((p) => p.type === 'text-delta').length).toBeGreaterThan(1);
  });

  it('trains a classifier whose coverage tells known text from unknown', () => {
    const nb = new NaiveBayes().train([
      { text: 'red apple', label: 'fruit' },
      { text: 'green pear', label: 'fruit' },
      { text: 'fast car', label: 'vehicle' },
      { text: 'slow truck', label: 'vehicle' },
    ]);
    expect(nb.predict('a red car').coverage).toBe(1);
    expect(nb.predict('the apple').label).toBe('fruit');
    expect(nb.predict('blue whale').coverage).toBe(0);
    expect(() => new NaiveBayes().predict('x')).toThrow(/not been trained/);
  });
});

describe('built-in embeddings', () => {
  const model = new LocalModel({ botName: 'Pincer', version: '1.0.0' });
  const cosine = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * (b[i] ?? 0), 0);

  it('gives unit vectors of a fixed size, the same for the same text', async () => {
    const { embeddings, usage } = await model.doEmbed({ values: ['Translate this sentence please', 'Translate this sentence please', ''] });
    expect(embeddings).toHaveLength(3);
    expect(embeddings[0]).toHaveLength(256);
    expect(Math.hypot(...(embeddings[0] ?? []))).toBeCloseTo(1, 6);
    expect(embeddings[1]).toEqual(embeddings[0]);
    expect(embeddings[2]?.every((v) => v === 0)).toBe(true);
    expect(usage.inputTokens).toBe(8);
  });

  it('puts texts that share words and spellings closer than unrelated ones', async () => {
    const [a, b, c] = (await model.doEmbed({ values: ['please translate this text to Spanish', 'can you do a translation of this text into Spanish', 'what is the weather like tomorrow'] })).embeddings as [number[], number[], number[]];
    expect(cosine(a, b)).toBeGreaterThan(0.4);
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c) + 0.3);
  });
});
