import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Pipeline, StageError } from '../../src/pipeline/pipeline.js';
import { PipelineRegistry } from '../../src/pipeline/registry.js';
import { messageRecord } from '../support/index.js';

const log = pino({ level: 'silent' });
const run = (pipeline: Pipeline, text: string, onToken?: (d: string) => void) =>
  pipeline.process(messageRecord(text), { signal: new AbortController().signal, log, onToken });

function withCommands(): { registry: PipelineRegistry; pipeline: Pipeline } {
  const registry = new PipelineRegistry();
  registry.addCommand({ name: 'ping', description: 'alive?', run: () => 'pong' });
  registry.addCommand({ name: 'echo', description: 'repeat', usage: '<text>', run: ({ args }) => ({ text: args, data: { length: args.length } }) });
  registry.addResponder({ name: 'fallback', order: 10_000, respond: () => ({ text: 'free text' }) });
  return { registry, pipeline: new Pipeline(registry, 1000) };
}

describe('command dispatch', () => {
  it('answers "/name args" from the registered command, before any responder', async () => {
    const { pipeline } = withCommands();
    expect((await run(pipeline, '/ping')).reply).toEqual({ text: 'pong', responder: 'commands' });
    expect((await run(pipeline, '/PING@TestBot')).reply.text).toBe('pong');
    expect((await run(pipeline, '/echo  hello   world ')).reply).toEqual({ text: 'hello   world', responder: 'commands', data: { length: 13 } });
  });

  it('says so for an unknown command and hands free text to the responders', async () => {
    const { pipeline } = withCommands();
    expect((await run(pipeline, '/frobnicate')).reply.text).toMatch(/Unknown command \/frobnicate/);
    expect((await run(pipeline, 'what is the weather?')).reply).toEqual({ text: 'free text', responder: 'fallback' });
  });

  it('drops a command exactly when its disposer runs', async () => {
    const { registry, pipeline } = withCommands();
    const dispose = registry.addCommand({ name: 'weather', description: 'w', run: () => 'sunny' });
    expect((await run(pipeline, '/weather')).reply.text).toBe('sunny');
    expect(() => registry.addCommand({ name: 'weather', description: 'w', run: () => 'x' })).toThrow(/already registered/);
    dispose();
    expect((await run(pipeline, '/weather')).reply.text).toMatch(/Unknown command/);
    expect(() => registry.addCommand({ name: 'bad name!', description: '', run: () => '' })).toThrow(/must be 1-32/);
  });
});

describe('registry snapshots', () => {
  it('keeps a message on the registrations it started with and holds their owner until it ends', async () => {
    const registry = new PipelineRegistry();
    let users = 0;
    const owner = { acquire: () => void users++, release: () => void users-- };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    const disposeOld = registry.addAnalyzer({ name: 'gen', analyze: async () => { await gate; return 1; } }, owner);
    registry.addResponder({ name: 'r', respond: ({ analysis }) => ({ text: String(analysis.gen) }) });
    const inFlight = run(new Pipeline(registry, 1000), 'x');
    await Promise.resolve();
    expect(users).toBe(1);
    // Swap generations while the message is in the old one's analyzer.
    disposeOld();
    registry.addAnalyzer({ name: 'gen', analyze: () => 2 });
    release();
    seen.push(Number((await inFlight).reply.text));
    seen.push(Number((await run(new Pipeline(registry, 1000), 'y')).reply.text));
    expect(seen).toEqual([1, 2]);
    expect(users).toBe(0);
  });
});

describe('Pipeline', () => {
  it('runs analyzers, hooks and the first answering responder, in order', async () => {
    const registry = new PipelineRegistry();
    const calls: string[] = [];
    registry.addAnalyzer({ name: 'length', analyze: ({ message: m }) => m.text.length });
    registry.addAnalyzer({ name: 'upper', analyze: ({ analysis }) => ({ sawLength: analysis.length ?? null }) });
    registry.addAnalyzer({ name: 'nothing', analyze: () => undefined });
    registry.addHooks({ name: 'h', before: () => void calls.push('before'), after: (_ctx, reply) => void calls.push(`after:${reply.text}`) });
    registry.addResponder({ name: 'late', order: 50, respond: () => ({ text: 'late' }) });
    registry.addResponder({ name: 'pass', order: 10, respond: () => undefined });
    registry.addResponder({
      name: 'streamer',
      order: 20,
      respond: ({ stream, analysis }) => {
        stream('he');
        stream('llo');
        return { text: `hello (${String(analysis.length)})` };
      },
    });
    const tokens: string[] = [];
    const result = await run(new Pipeline(registry, 1000), 'abcd', (d) => tokens.push(d));
    expect(result.analysis).toEqual({ length: 4, upper: { sawLength: 4 } });
    expect(result.reply).toEqual({ text: 'hello (4)', responder: 'streamer' });
    expect(tokens).toEqual(['he', 'llo']);
    expect(calls).toEqual(['before', 'after:hello (4)']);
  });

  it('fails the message with the stage name when a stage throws, keeping earlier analysis', async () => {
    const registry = new PipelineRegistry();
    registry.addAnalyzer({ name: 'ok', analyze: () => 1 });
    registry.addAnalyzer({ name: 'broken', analyze: () => { throw new Error('kaput'); } });
    registry.addResponder({ name: 'r', respond: () => ({ text: 'never' }) });
    const err = await run(new Pipeline(registry, 1000), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageError);
    expect((err as StageError).message).toBe('analyzer broken: kaput');
    expect((err as StageError).analysis).toEqual({ ok: 1 });
  });

  it('times out a hanging stage and aborts its signal', async () => {
    const registry = new PipelineRegistry();
    let aborted = false;
    registry.addResponder({
      name: 'hangs',
      respond: ({ signal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => (aborted = true));
        }),
    });
    const err = await run(new Pipeline(registry, 50), 'x').catch((e: unknown) => e);
    expect((err as Error).message).toBe('responder hangs: responder hangs did not finish within 50 ms');
    expect(aborted).toBe(true);
  });

  it('fails clearly when no responder answers', async () => {
    const registry = new PipelineRegistry();
    await expect(run(new Pipeline(registry, 50), 'x')).rejects.toThrow('responders: no responder answered this message');
  });
});
