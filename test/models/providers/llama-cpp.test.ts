import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../../src/models/errors.js';
import { toChatHistory } from '../../../src/models/providers/llama-cpp/chat-history.js';
import { LlamaCppModel } from '../../../src/models/providers/llama-cpp/model.js';
import { buildModelLayer } from '../../../src/models/setup.js';
import type { GenerateRequest, StreamPart } from '../../../src/models/types.js';
import { PINCER_VERSION } from '../../../src/version.js';
import { writeTinyGguf, type TinyGgufInfo } from '../../support/gguf.js';
import { tempDir, testConfig } from '../../support/index.js';

// A real llama.cpp run of a tiny random-weight model generated here: the words are noise, so
// these tests assert the lifecycle, token counts and streaming, never the text.

const temp = tempDir('pincer-gguf-');
const modelPath = path.join(temp.dir, 'tiny.gguf');
let info: TinyGgufInfo;
let model: LlamaCppModel;

const REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
    { role: 'user', content: 'what can you do? ☃' },
  ],
  maxTokens: 8,
  // Greedy: the tiny model's writer makes EOS unreachable then, so every reply runs to maxTokens.
  temperature: 0,
};

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

beforeAll(async () => {
  info = await writeTinyGguf(modelPath, { seed: 7 });
  model = new LlamaCppModel({ path: modelPath, contextSize: 256 });
});

afterAll(async () => {
  await model.close();
  temp.cleanup();
});

describe('the tiny GGUF writer', () => {
  it('writes the same bytes for the same seed, and other bytes for another', async () => {
    const again = path.join(temp.dir, 'again.gguf');
    const other = path.join(temp.dir, 'other.gguf');
    await writeTinyGguf(again, { seed: 7 });
    await writeTinyGguf(other, { seed: 8 });
    expect(readFileSync(again).equals(readFileSync(modelPath))).toBe(true);
    expect(readFileSync(other).equals(readFileSync(modelPath))).toBe(false);
    expect(readFileSync(modelPath).subarray(0, 4).toString('ascii')).toBe('GGUF');
  });
});

describe('LlamaCppModel', () => {
  it('warms up by loading the file, with one thread per core', async () => {
    expect(model.id).toBe('llama-cpp/tiny.gguf');
    expect(model.provider).toBe('llama-cpp');
    expect(model.threads).toBe(availableParallelism());
    await model.warmUp(AbortSignal.timeout(20_000));
  });

  it('generates up to maxTokens, reporting the prompt and reply tokens', async () => {
    const result = await model.doGenerate(REQUEST);
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeLessThanOrEqual(8);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.text.length).toBeGreaterThan(0);

    // A longer prompt is more input tokens: the count is the rendered prompt's, not a constant.
    const longer = await model.doGenerate({ ...REQUEST, messages: [...REQUEST.messages, { role: 'user', content: 'and one more thing to say here' }] });
    expect(longer.usage.inputTokens).toBeGreaterThan(result.usage.inputTokens);
  });

  it('answers a request offering tools in text, with an unsupported-setting warning', async () => {
    const plain = await model.doGenerate(REQUEST);
    expect(plain.warnings).toBeUndefined();
    const tools = [{ name: 'lookup', parameters: { type: 'object' } }];
    const result = await model.doGenerate({ ...REQUEST, tools });
    expect(result.toolCalls).toBeUndefined();
    expect(result.warnings).toEqual([{ type: 'unsupported-setting', setting: 'tools', details: expect.any(String) }]);
    const finish = (await collect(model.doStream({ ...REQUEST, tools, toolChoice: 'required' }))).at(-1);
    expect(finish).toMatchObject({ type: 'finish', warnings: [{ setting: 'tools' }, { setting: 'toolChoice' }] });
  });

  it('streams text deltas, then exactly one finish with the usage', async () => {
    const parts = await collect(model.doStream({ ...REQUEST, maxTokens: 12 }));
    const finishes = parts.filter((p) => p.type === 'finish');
    expect(finishes).toHaveLength(1);
    expect(parts.at(-1)).toBe(finishes[0]);
    const deltas = parts.slice(0, -1);
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas) expect(d).toEqual({ type: 'text-delta', delta: expect.stringMatching(/./) });
    const finish = finishes[0] as Extract<StreamPart, { type: 'finish' }>;
    expect(finish.finishReason).toBe('length');
    expect(finish.usage.outputTokens).toBeGreaterThan(0);
    expect(finish.usage.outputTokens).toBeLessThanOrEqual(12);
    // Deltas are detokenized pieces of the counted tokens: never more deltas than tokens.
    expect(deltas.length).toBeLessThanOrEqual(finish.usage.outputTokens);
    expect(finish.usage.inputTokens).toBe((await model.doGenerate(REQUEST)).usage.inputTokens);
  });

  it('runs concurrent generations side by side, queueing those beyond the pool', async () => {
    // Two sequences in the pool: the third call waits for one, and all three complete.
    const results = await Promise.all(
      ['first', 'second', 'third'].map((text) => model.doGenerate({ messages: [{ role: 'user', content: text }], maxTokens: 10, temperature: 0 })),
    );
    for (const r of results) {
      expect(r.usage.outputTokens).toBeGreaterThan(0);
      expect(r.usage.outputTokens).toBeLessThanOrEqual(10);
      expect(r.finishReason).toBe('length');
    }
  });

  it('stops a stream when its signal aborts, with ModelError aborted, and stays usable', async () => {
    const controller = new AbortController();
    const seen: StreamPart[] = [];
    const run = (async () => {
      for await (const part of model.doStream({ ...REQUEST, maxTokens: 200, signal: controller.signal })) {
        seen.push(part);
        if (part.type === 'text-delta') controller.abort();
      }
    })();
    await expect(run).rejects.toSatisfy((err) => err instanceof ModelError && err.errorClass === 'aborted');
    expect(seen.some((p) => p.type === 'finish')).toBe(false);
    // An already aborted signal fails at once.
    await expect(model.doGenerate({ ...REQUEST, signal: AbortSignal.abort() })).rejects.toMatchObject({ errorClass: 'aborted' });
    // The sequence went back to the pool.
    expect((await model.doGenerate(REQUEST)).usage.outputTokens).toBeGreaterThan(0);
  });

  it('frees the sequence when the consumer leaves a stream early', async () => {
    for (let i = 0; i < 3; i++) {
      // Three times with two sequences: a leaked one would make the third wait forever.
      for await (const part of model.doStream({ ...REQUEST, maxTokens: 200 })) if (part.type === 'text-delta') break;
    }
    expect((await model.doGenerate(REQUEST)).finishReason).toBe('length');
  });

  it('refuses a prompt longer than the context with context_length', async () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    await expect(model.doGenerate({ messages: [{ role: 'user', content: long }], maxTokens: 4 })).rejects.toMatchObject({ errorClass: 'context_length', code: 'MODEL_CONTEXT_LENGTH' });
    // A request asking for more tokens than fit after the prompt is cut at the context's end.
    const result = await model.doGenerate({ ...REQUEST, maxTokens: 10_000 });
    expect(result.finishReason).toBe('length');
    expect(result.usage.inputTokens + result.usage.outputTokens).toBeLessThan(256);
  });

  it('embeds each value as a vector of the model\'s embedding length', async () => {
    const result = await model.doEmbed({ values: ['hello world', 'good day to you', 'x'] });
    expect(result.embeddings).toHaveLength(3);
    for (const v of result.embeddings) {
      expect(v).toHaveLength(info.embeddingLength);
      expect(v.every(Number.isFinite)).toBe(true);
    }
    expect(result.embeddings[0]).not.toEqual(result.embeddings[1]);
    expect(result.usage.inputTokens).toBeGreaterThanOrEqual(3);
    // The same text, the same vector; concurrent calls are serialised, not mixed up.
    const [a, b] = await Promise.all([model.doEmbed({ values: ['hello world'] }), model.doEmbed({ values: ['good day to you'] })]);
    expect(a.embeddings[0]).toEqual(result.embeddings[0]);
    expect(b.embeddings[0]).toEqual(result.embeddings[1]);
  });

  it('renders prompts with the GGUF\'s own chat template when it has one', async () => {
    const file = path.join(temp.dir, 'chatml.gguf');
    await writeTinyGguf(file, {
      seed: 7,
      chatTemplate:
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    });
    const templated = new LlamaCppModel({ path: file, contextSize: 256, parallel: 1 });
    try {
      const result = await templated.doGenerate(REQUEST);
      expect(result.finishReason).toBe('length');
      expect(result.usage.outputTokens).toBe(8);
      // ChatML's markers, spelled in this vocabulary's letters, make the same messages longer.
      expect(result.usage.inputTokens).toBeGreaterThan((await model.doGenerate(REQUEST)).usage.inputTokens);
    } finally {
      await templated.close();
    }
  });

  it('maps conversation roles onto node-llama-cpp\'s chat history', () => {
    expect(
      toChatHistory([
        { role: 'system', content: 's' },
        { role: 'user', content: 'u1' },
        { role: 'assistant', content: '', toolCalls: [{ id: '1', name: 'clock', arguments: '{}' }] },
        { role: 'tool', content: '12:00', toolCallId: '1', toolName: 'clock' },
        { role: 'assistant', content: 'a' },
      ]),
    ).toEqual([
      { type: 'system', text: 's' },
      { type: 'user', text: 'u1\n\nResult of clock: 12:00' },
      { type: 'model', response: ['a'] },
      { type: 'model', response: [] },
    ]);
  });
});

describe('LlamaCppModel configuration errors', () => {
  it('rejects a missing file or one that is not .gguf at construction, naming the setting', () => {
    expect(() => new LlamaCppModel({ path: path.join(temp.dir, 'missing.gguf') })).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(/^MODEL_PATH=.*missing\.gguf: no such file/) }));
    const text = path.join(temp.dir, 'model.bin');
    writeFileSync(text, 'not a model');
    expect(() => new LlamaCppModel({ path: text, setting: 'models.default[0].path' })).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(/^models\.default\[0\]\.path=.*model\.bin: expected a \.gguf file/) }));
  });

  it('rejects a .gguf file that is not GGUF, or whose header is cut short, at construction', () => {
    // node-llama-cpp would never settle loadModel() for these: the header is checked first.
    const whole = readFileSync(modelPath);
    const cases: Array<[string, Buffer | string, RegExp]> = [
      ['short.gguf', 'GGUF?', /not a usable GGUF file: 5 bytes are too few/],
      ['text.gguf', 'GGUF but not really: just some text', /not a usable GGUF file: GGUF version \d+ is not supported/],
      ['zeros.gguf', Buffer.alloc(4096), /does not start with "GGUF"/],
      ['empty-header.gguf', Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(16), Buffer.alloc(3)]), /no general\.architecture/],
      ['half-header.gguf', whole.subarray(0, 2000), /cut short/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = path.join(temp.dir, name);
      writeFileSync(file, bytes);
      expect(() => new LlamaCppModel({ path: file }), name).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(message) }));
    }
  });

  it('fails warm-up on a GGUF file llama.cpp cannot load, naming the setting', async () => {
    const whole = readFileSync(modelPath);
    // Same length, unknown architecture; and the last tensor's data cut off.
    const unknown = Buffer.from(whole);
    unknown.write('xlama', unknown.indexOf('llama'), 'latin1');
    const cases: Array<[string, Buffer]> = [
      ['unknown-arch.gguf', unknown],
      ['cut.gguf', whole.subarray(0, whole.length - 1000)],
    ];
    for (const [name, bytes] of cases) {
      const file = path.join(temp.dir, name);
      writeFileSync(file, bytes);
      const bad = new LlamaCppModel({ path: file, setting: 'models.default[1].path' });
      await expect(bad.warmUp(AbortSignal.timeout(20_000)), name).rejects.toMatchObject({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(new RegExp(`^models\\.default\\[1\\]\\.path=.*${name}: `)) });
      await bad.close();
    }
  });

  it('says how to install node-llama-cpp when it is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'node-llama-cpp'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const bad = new LlamaCppModel({ path: modelPath, importModule: () => Promise.reject(missing) });
    await expect(bad.warmUp(AbortSignal.timeout(5_000))).rejects.toMatchObject({ code: 'MODEL_CONFIG_INVALID', message: expect.stringContaining('npm install node-llama-cpp') });
    await bad.close();
  });

  it('loads once for concurrent first calls, and close() frees it for good', async () => {
    let imports = 0;
    const own = new LlamaCppModel({ path: modelPath, contextSize: 128, parallel: 1, importModule: () => (imports++, import('node-llama-cpp')) });
    const [, , generated] = await Promise.all([own.warmUp(AbortSignal.timeout(20_000)), own.warmUp(AbortSignal.timeout(20_000)), own.doGenerate({ ...REQUEST, maxTokens: 3 })]);
    expect(imports).toBe(1);
    expect(generated.usage.outputTokens).toBeGreaterThan(0);
    // Closing while a generation runs ends it with an error, not a hang or a crash.
    const stream = own.doStream({ ...REQUEST, maxTokens: 200 })[Symbol.asyncIterator]();
    expect((await stream.next()).value).toMatchObject({ type: 'text-delta' });
    const closing = own.close();
    await expect((async () => {
      for (let r = await stream.next(); !r.done; r = await stream.next()) if (r.value.type === 'finish') return r.value;
      return undefined;
    })()).rejects.toBeInstanceOf(ModelError);
    await closing;
    await own.close();
    await expect(own.doGenerate(REQUEST)).rejects.toMatchObject({ code: 'MODEL_SERVER', message: expect.stringMatching(/closed/) });
  });
});

describe('buildModelLayer with a GGUF file', () => {
  it('puts MODEL_PATH first, before vendor keys, and answers through the router', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const layer = buildModelLayer(testConfig(dir), { MODEL_PATH: modelPath, OPENAI_API_KEY: 'sk-test' }, PINCER_VERSION);
      try {
        expect(layer.deployments).toEqual([
          expect.objectContaining({ id: 'llama-cpp', provider: 'llama-cpp', model: 'llama-cpp/tiny.gguf', source: 'MODEL_PATH', priority: 0 }),
          expect.objectContaining({ provider: 'openai', source: 'OPENAI_API_KEY', priority: 1 }),
        ]);
        const local = layer.router;
        const result = await local.doGenerate({ messages: [{ role: 'user', content: 'hello' }], maxTokens: 4, temperature: 0 });
        expect(result.usage.outputTokens).toBeGreaterThan(0);
        expect(local.stats()).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'llama-cpp', calls: 1, failures: 0 })]));
      } finally {
        await layer.close();
      }
    } finally {
      cleanup();
    }
  });

  it('warms a configured llama-cpp deployment and names a bad path by its key', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: { default: [ { provider: llama-cpp, path: "${modelPath}", context_size: 128 } ] }\n`);
      const layer = buildModelLayer(testConfig(dir), {}, PINCER_VERSION);
      expect(await layer.warmUp(20_000)).toEqual([]);
      await layer.close();

      writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: { default: [ { provider: llama-cpp, path: "${path.join(dir, 'nope.gguf')}" } ] }\n`);
      expect(() => buildModelLayer(testConfig(dir), {}, PINCER_VERSION)).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: expect.stringMatching(/^models\.default\[0\]\.path=.*nope\.gguf: no such file/) }));

      writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: { default: [ { provider: llama-cpp, path: model.bin } ] }\n`);
      expect(() => testConfig(dir)).toThrow(/models\.default\.0\.path|models\.default\[0\]\.path/);

      writeFileSync(path.join(dir, 'pincer.config.yaml'), `models: { default: [ { provider: llama-cpp } ] }\n`);
      expect(() => buildModelLayer(testConfig(dir), {}, PINCER_VERSION)).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: 'models.default[0].path: provider llama-cpp needs path, the .gguf file to run' }));
    } finally {
      cleanup();
    }
  });

  it('refuses a MODEL_PATH that does not exist, naming MODEL_PATH', () => {
    const { dir, cleanup } = tempDir();
    try {
      expect(() => buildModelLayer(testConfig(dir), { MODEL_PATH: '/models/none.gguf' }, PINCER_VERSION)).toThrow(expect.objectContaining({ code: 'MODEL_CONFIG_INVALID', message: 'MODEL_PATH=/models/none.gguf: no such file' }));
    } finally {
      cleanup();
    }
  });
});
