import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config/load.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { PipelineRegistry } from '../src/pipeline/registry.js';
import type { Analyzer } from '../src/pipeline/types.js';
import { PluginManager } from '../src/plugins/manager.js';
import type { MessageRecord, QueueStats } from '../src/store/types.js';

const MESSAGES = Number(process.env.BENCH_PLUGIN_MESSAGES ?? 20_000);
const CONCURRENCY = 32;

/** The same analyzer, in-process and as a plugin: counts words. */
const ANALYZER_SOURCE = `export const plugin = { setup(ctx) { ctx.analyzer({ name: 'words', analyze: ({ message }) => ({ count: message.text.split(/\\s+/).length }) }); } };`;
const inlineAnalyzer: Analyzer = { name: 'words', analyze: ({ message }) => ({ count: message.text.split(/\s+/).length }) };

function message(i: number): MessageRecord {
  const now = Date.now();
  return {
    id: `m${i}`, conversationId: `c${i % 64}`, text: 'how many words are in this benchmark message', sender: null, channel: 'bench', priority: 'normal',
    metadata: null, idempotencyKey: null, state: 'processing', attempts: 1, createdAt: now, updatedAt: now, availableAt: now, startedAt: now,
    finishedAt: null, analysis: {}, reply: null, lastError: null,
  };
}

async function measure(pipeline: Pipeline): Promise<{ sequentialUs: number; perSecond: number }> {
  const log = pino({ level: 'silent' });
  // One signal per message, as the worker pool gives.
  const one = (i: number) => pipeline.process(message(i), { signal: new AbortController().signal, log });
  for (let i = 0; i < 1000; i++) await one(i); // warm-up
  let started = performance.now();
  for (let i = 0; i < MESSAGES; i++) await one(i);
  const sequentialUs = ((performance.now() - started) * 1000) / MESSAGES;
  started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < MESSAGES) await one(next++);
  }));
  return { sequentialUs, perSecond: MESSAGES / ((performance.now() - started) / 1000) };
}

function pipelineWith(registry: PipelineRegistry): Pipeline {
  registry.addResponder({ name: 'reply', respond: ({ analysis }) => ({ text: JSON.stringify(analysis) }) });
  return new Pipeline(registry, 30_000);
}

/** Cost of one analyzer call per message: in the worker's own thread versus through a plugin thread. */
export async function analyzerCost(tempDirs: string[]): Promise<{ concurrency: number; inline: { sequentialUs: number; perSecond: number }; isolated: { sequentialUs: number; perSecond: number } }> {
  const inlineRegistry = new PipelineRegistry();
  inlineRegistry.addAnalyzer(inlineAnalyzer);
  const inline = await measure(pipelineWith(inlineRegistry));

  const root = mkdtempSync(path.join(tmpdir(), 'pincer-bench-plugin-'));
  tempDirs.push(root);
  const dir = path.join(root, 'plugins', 'words');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'pincer-plugin-words', version: '1.0.0', type: 'module', pincer: { engine: '*', plugins: { words: './index.js#plugin' } } }));
  writeFileSync(path.join(dir, 'index.js'), ANALYZER_SOURCE);
  const config = loadConfig({ cwd: root, env: { PINCER_DATA_DIR: path.join(root, 'data'), PINCER_PLUGINS_ENABLED: 'words', PINCER_PLUGINS_BUNDLED: 'false' } }).config;
  const registry = new PipelineRegistry();
  const unused = (): never => {
    throw new Error('the benchmark plugin calls no host method');
  };
  const host = { stats: async () => ({}) as QueueStats, enqueue: unused, models: { generate: unused, stream: unused, embed: unused }, channels: { call: unused } };
  const manager = new PluginManager({ config, registry, log: pino({ level: 'silent' }), version: '1.0.0', bundledRoot: undefined, startedAt: Date.now(), host, env: {} });
  await manager.start();
  try {
    const isolated = await measure(pipelineWith(registry));
    return { concurrency: CONCURRENCY, inline, isolated };
  } finally {
    await manager.close();
  }
}
