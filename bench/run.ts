/**
 * `npm run bench`: the figures issue #2 asks for, measured on this machine in one run, with the
 * references (bare Fastify, BullMQ on the local Redis) measured in the same run. Prints a table.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { loadConfig } from '../src/config/load.js';
import { Pincer } from '../src/pincer.js';
import { SqliteQueue } from '../src/store/sqlite/queue.js';
import { queueOptionsFrom } from '../src/store/open.js';
import { channelThroughput } from './channels.js';
import { discord, matrix, telegram } from './channels-polled.js';
import { slackEvents, slackSocket, webhook, whatsapp } from './channels-posted.js';
import { clusterThroughput, postgresQueueAlone, postgresReachable } from './cluster.js';
import { measureQueueAlone } from './queue-alone.js';
import { instantLlm, modelOverhead } from './models.js';
import { kbIngestion, kbSearchLatency } from './kb.js';
import { analyzerCost } from './plugins.js';
import { CLI, DIST, percentile, printTable, rssMiB, sleep, spawnServer, type Row } from './lib.js';

const HTTP_SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const QUEUE_JOBS = Number(process.env.BENCH_QUEUE_JOBS ?? 20_000);
const REDIS_URL = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const BODY = JSON.stringify({ text: '/echo benchmark message' });

const tempDirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pincer-bench-'));
  tempDirs.push(dir);
  return dir;
}

const serverEnv = (dir: string): Record<string, string> => ({
  PINCER_DATA_DIR: dir,
  PINCER_PORT: '0',
  // info prints the "listening" line the harness waits for; there are no per-message info lines.
  PINCER_LOG_LEVEL: 'info',
  PINCER_LOG_ACCESS: 'false',
  PINCER_QUEUE_MAX_LENGTH_CAP: '10000000',
});

async function hammer(url: string, body = BODY): Promise<{ rps: number; ok: number; non2xx: number; errors: number }> {
  const result = await autocannon({
    url: `${url}/v1/messages`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: HTTP_SECONDS,
  });
  return { rps: result['2xx'] / HTTP_SECONDS, ok: result['2xx'], non2xx: result.non2xx, errors: result.errors };
}

async function startupAndIdle(env: Record<string, string> = {}): Promise<{ readyMs: number; idleMiB: number }> {
  const dir = temp();
  const server = await spawnServer([CLI, 'start'], { ...serverEnv(dir), ...env }, dir);
  let readyMs = NaN;
  for (;;) {
    const res = await fetch(`${server.url}/ready`).catch(() => undefined);
    if (res?.status === 200) {
      readyMs = performance.now() - server.startedAt;
      break;
    }
    await sleep(5);
  }
  await sleep(3000);
  const idleMiB = rssMiB(server.child.pid!);
  await server.stop();
  return { readyMs, idleMiB };
}

/**
 * Durable ingest alone: an API-only node (workers.enabled = false) takes the load, so the
 * figure is the cost of validating, committing and fsyncing each message, comparable with the
 * bare route. Processing is measured separately below.
 */
async function durableIngest(): Promise<Awaited<ReturnType<typeof hammer>>> {
  const dir = temp();
  const server = await spawnServer([CLI, 'start'], { ...serverEnv(dir), PINCER_WORKERS_ENABLED: 'false' }, dir);
  const result = await hammer(server.url);
  await server.stop();
  return result;
}

/** The whole path under the same load: every accepted message answered and stored. */
async function endToEnd(env: Record<string, string> = {}, body = BODY, configFile?: string): Promise<{ rate: number; loadMiB: number; drainSeconds: number }> {
  const dir = temp();
  if (configFile) writeFileSync(path.join(dir, 'pincer.config.yaml'), configFile);
  const server = await spawnServer([CLI, 'start'], { ...serverEnv(dir), ...env }, dir);
  let loadMiB = 0;
  const sampler = setInterval(() => (loadMiB = Math.max(loadMiB, rssMiB(server.child.pid!))), 250);
  const started = performance.now();
  await hammer(server.url, body);
  // End to end: everything accepted must be answered (reply stored) before the clock stops.
  let completed = 0;
  for (;;) {
    const stats = (await (await fetch(`${server.url}/v1/admin/queue/stats`)).json()) as { queue: { depth: number; completed: number } };
    completed = stats.queue.completed;
    if (stats.queue.depth === 0) break;
    await sleep(20);
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await server.stop();
  return { rate: completed / seconds, loadMiB, drainSeconds: seconds - HTTP_SECONDS };
}

async function bareFastify(): Promise<number> {
  const server = await spawnServer([path.join(DIST, 'bench', 'bare-fastify.js')], {}, DIST);
  const { rps } = await hammer(server.url);
  await server.stop();
  return rps;
}

async function pincerQueueAlone(): Promise<{ enqueue: number; process: number }> {
  const dir = temp();
  const config = loadConfig({ cwd: dir, env: { PINCER_DATA_DIR: dir } }).config;
  const queue = new SqliteQueue(path.join(dir, 'queue.db'), { ...queueOptionsFrom(config), maxLengthCap: 10_000_000 });
  try {
    return await measureQueueAlone(queue, QUEUE_JOBS);
  } finally {
    await queue.close();
  }
}

async function bullmqAlone(): Promise<{ enqueue: number; process: number } | string> {
  const connection = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379), maxRetriesPerRequest: null };
  const name = `pincer-bench-${Date.now()}`;
  const queue = new BullQueue(name, { connection });
  try {
    await Promise.race([queue.waitUntilReady(), sleep(3000).then(() => Promise.reject(new Error('timeout')))]);
  } catch (err) {
    await queue.close().catch(() => {});
    return `not measured: Redis at ${REDIS_URL.host} unreachable (${(err as Error).message})`;
  }
  let t = performance.now();
  for (let i = 0; i < QUEUE_JOBS; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, QUEUE_JOBS - i) }, (_, j) => queue.add('job', { text: `job ${i + j}` }, { removeOnComplete: true })));
  }
  const enqueue = QUEUE_JOBS / ((performance.now() - t) / 1000);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  t = performance.now();
  const worker = new BullWorker(name, async () => 'ok', { connection, concurrency: 32 });
  worker.on('completed', () => {
    if (++done === QUEUE_JOBS) finish();
  });
  await finished;
  const process = QUEUE_JOBS / ((performance.now() - t) / 1000);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { enqueue, process };
}

/** Enqueue at a steady 1,000 msg/s for 5 s; time from enqueue() to the first pipeline stage. */
async function enqueueToStart(plugins: string): Promise<{ p50: number; p99: number; samples: number }> {
  const dir = temp();
  const pincer = await Pincer.create({ config: loadConfig({ cwd: dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: '0', PINCER_LOG_LEVEL: 'warn', PINCER_PLUGINS_ENABLED: plugins } }).config });
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  pincer.registry.addAnalyzer({
    name: 'probe',
    analyze: ({ message }) => {
      const t0 = sentAt.get(message.text);
      if (t0 !== undefined) latencies.push(performance.now() - t0);
      return undefined;
    },
  });
  await pincer.start();
  const RATE = 1000;
  const SECONDS = 5;
  const TICK_MS = 10;
  const start = performance.now();
  let sent = 0;
  while (sent < RATE * SECONDS) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (sent < due && sent < RATE * SECONDS) {
      const text = `/ping ${sent}`;
      sentAt.set(text, performance.now());
      void pincer.store.work.enqueue({ text, conversationId: `lat-${sent}`, channel: 'bench', priority: 'normal' });
      sent++;
    }
    await sleep(TICK_MS / 10);
  }
  while (latencies.length < sent) await sleep(10);
  await pincer.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const verdict = (ok: boolean): Row['verdict'] => (ok ? 'met' : 'missed');

/** BENCH_ONLY=startup,http,queue,latency,plugins,models,kb,channels,cluster measures a subset (for working on one figure). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'startup,http,queue,latency,plugins,models,kb,channels,cluster').split(',').map((s) => s.trim()));

async function main(): Promise<void> {
  console.log(`Pincer benchmark: ${HTTP_SECONDS} s HTTP runs with ${CONNECTIONS} connections, ${QUEUE_JOBS} queue jobs; Node ${process.versions.node}`);
  const rows: Row[] = [];

  if (ONLY.has('http')) {
    const bare = await bareFastify();
    const ingest = await durableIngest();
    // The core pipeline's figure: only the commands plugin (which answers /echo) runs.
    const { rate: e2e, loadMiB, drainSeconds } = await endToEnd({ PINCER_PLUGINS_ENABLED: 'commands' });
    const ratio = ingest.rps / bare;
    rows.push({ measure: 'HTTP ingest, durable (API-only node, 202 after fsync)', result: `${fmt(ingest.rps)} req/s`, reference: `bare Fastify ${fmt(bare)} req/s`, target: '>= 0.6x bare', verdict: verdict(ratio >= 0.6) });
    rows.push({ measure: '  ratio to bare Fastify', result: `${fmt(ratio, 2)}x`, reference: ingest.non2xx + ingest.errors > 0 ? `${ingest.non2xx} non-2xx, ${ingest.errors} errors` : 'all 2xx' });
    rows.push({ measure: 'End to end (ingest -> queue -> worker -> reply stored), commands plugin only', result: `${fmt(e2e)} msg/s`, reference: `backlog drained ${fmt(drainSeconds, 1)} s after load`, target: '>= 5,000 msg/s', verdict: verdict(e2e >= 5000) });
    rows.push({ measure: 'RSS under load (peak)', result: `${fmt(loadMiB, 1)} MiB` });
  }
  if (ONLY.has('queue')) {
    const ours = await pincerQueueAlone();
    const bull = await bullmqAlone();
    if (typeof bull === 'string') {
      rows.push({ measure: 'Queue alone: enqueue', result: `${fmt(ours.enqueue)} jobs/s`, reference: bull, verdict: 'n/a' });
      rows.push({ measure: 'Queue alone: process', result: `${fmt(ours.process)} jobs/s`, reference: bull, target: '>= 3x BullMQ', verdict: 'n/a' });
    } else {
      rows.push({ measure: 'Queue alone: enqueue', result: `${fmt(ours.enqueue)} jobs/s`, reference: `BullMQ ${fmt(bull.enqueue)} jobs/s (${fmt(ours.enqueue / bull.enqueue, 1)}x)` });
      rows.push({ measure: 'Queue alone: process', result: `${fmt(ours.process)} jobs/s`, reference: `BullMQ ${fmt(bull.process)} jobs/s (${fmt(ours.process / bull.process, 1)}x)`, target: '>= 3x BullMQ', verdict: verdict(ours.process >= 3 * bull.process) });
    }
  }
  if (ONLY.has('latency')) {
    for (const [label, plugins] of [['commands plugin only', 'commands'], ['default plugins', 'commands,sentiment,language,translation']] as const) {
      const latency = await enqueueToStart(plugins);
      rows.push({ measure: `Enqueue-to-start at 1,000 msg/s (${latency.samples} msgs), ${label}`, result: `p50 ${fmt(latency.p50, 2)} ms, p99 ${fmt(latency.p99, 2)} ms`, target: 'p99 <= 5 ms', verdict: verdict(latency.p99 <= 5) });
    }
  }
  if (ONLY.has('plugins')) {
    const cost = await analyzerCost(tempDirs);
    rows.push({ measure: 'Analyzer per message, in-process (one at a time)', result: `${fmt(cost.inline.sequentialUs, 1)} us` });
    rows.push({ measure: 'Analyzer per message, plugin thread (one at a time)', result: `${fmt(cost.isolated.sequentialUs, 1)} us`, reference: `+${fmt(cost.isolated.sequentialUs - cost.inline.sequentialUs, 1)} us for isolation` });
    rows.push({ measure: `Analyzer throughput, in-process (${cost.concurrency} in flight)`, result: `${fmt(cost.inline.perSecond)} msg/s` });
    rows.push({ measure: `Analyzer throughput, plugin thread (${cost.concurrency} in flight)`, result: `${fmt(cost.isolated.perSecond)} msg/s` });
    const nlp = await endToEnd({ PINCER_PLUGINS_ENABLED: 'commands,sentiment,language' }, JSON.stringify({ text: 'I really love how quickly this little bot answers my questions!' }));
    rows.push({ measure: 'End to end with sentiment + language plugins', result: `${fmt(nlp.rate)} msg/s`, reference: `backlog drained ${fmt(nlp.drainSeconds, 1)} s after load; peak RSS ${fmt(nlp.loadMiB, 1)} MiB` });
  }
  if (ONLY.has('kb')) {
    const ingestion = await kbIngestion();
    rows.push({ measure: 'Knowledge ingestion: Markdown pages parsed, chunked, indexed and embedded (SQLite)', result: `${fmt(ingestion.pagesPerSecond)} pages/s`, reference: `${fmt(ingestion.chunks)} chunks` });
    for (const chunks of [10_000, 100_000]) {
      const s = await kbSearchLatency(chunks);
      rows.push({
        measure: `Knowledge search at ${fmt(chunks)} chunks (words + vectors fused, SQLite)`,
        result: `p50 ${fmt(s.p50, 2)} ms, p95 ${fmt(s.p95, 2)} ms`,
        reference: `lexical query alone p50 ${fmt(s.lexicalP50, 2)} ms (${fmt(s.p50 / s.lexicalP50, 1)}x); index built in ${fmt(s.buildSeconds, 1)} s`,
      });
    }
  }
  if (ONLY.has('models')) {
    const o = await modelOverhead();
    rows.push({ measure: 'Model call, raw undici request to an instant server', result: `${fmt(o.rawUs, 1)} us` });
    rows.push({ measure: 'Model call through the provider', result: `${fmt(o.providerUs, 1)} us`, reference: `+${fmt((o.providerUs - o.rawUs) / 1000, 3)} ms over raw`, target: '<= 0.3 ms over raw', verdict: verdict(o.providerUs - o.rawUs <= 300) });
    rows.push({ measure: 'Model call through router + provider', result: `${fmt(o.routerUs, 1)} us`, reference: `+${fmt((o.routerUs - o.rawUs) / 1000, 3)} ms over raw`, target: '<= 0.3 ms over raw', verdict: verdict(o.routerUs - o.rawUs <= 300) });
    // Free text (no command), answered by the model responder over the instant server.
    const llm = await instantLlm();
    try {
      const turns = await endToEnd(
        { PINCER_PLUGINS_ENABLED: 'commands', PINCER_MODELS_CACHE_MAX_ENTRIES: '0' },
        JSON.stringify({ text: 'hello there, how is it going?' }),
        // Without agent memory and the knowledge base: their core tools would make every turn a tool loop.
        `models: { default: [ { provider: openai-compatible, base_url: "${llm.url}/v1", model: bench } ], history_tokens: 0 }\nmemory: { enabled: false }\nkb: { enabled: false }\n`,
      );
      rows.push({ measure: 'End to end turns through the model responder (instant LLM)', result: `${fmt(turns.rate)} turns/s`, reference: `backlog drained ${fmt(turns.drainSeconds, 1)} s after load`, target: '>= 3,000 turns/s', verdict: verdict(turns.rate >= 3000) });
      // The same turns with one tool call each: a plugin's read tool in its thread, and a
      // second model call with its result (the tool loop of docs/tools.md).
      const toolLlm = await instantLlm({ callTool: 'clock' });
      try {
        const project = temp();
        cpSync(path.join(DIST, '..', 'test', 'fixtures', 'plugins', 'bench-tool'), path.join(project, 'plugins', 'bench-tool'), { recursive: true });
        const withTool = await endToEnd(
          { PINCER_PLUGINS_ROOT: project, PINCER_PLUGINS_ENABLED: 'bench-tool', PINCER_MODELS_CACHE_MAX_ENTRIES: '0' },
          JSON.stringify({ text: 'hello there, what time is it?' }),
          `models: { default: [ { provider: openai-compatible, base_url: "${toolLlm.url}/v1", model: bench } ], history_tokens: 0 }\nmemory: { enabled: false }\nkb: { enabled: false }\n`,
        );
        rows.push({
          measure: 'End to end turns with one tool call each (instant LLM, two model calls and a plugin tool per turn)',
          result: `${fmt(withTool.rate)} turns/s`,
          reference: `${fmt(withTool.rate / turns.rate, 2)}x the turns without tools in this run; backlog drained ${fmt(withTool.drainSeconds, 1)} s after load`,
        });
      } finally {
        await toolLlm.close();
      }
    } finally {
      await llm.close();
    }
  }
  if (ONLY.has('channels')) {
    for (const c of await channelThroughput([telegram, discord, matrix, whatsapp, slackEvents, slackSocket, webhook])) {
      const refused = c.refused > 0 ? `; ${fmt(c.refused)} refused` : '';
      rows.push({ measure: `${c.label} inbound: ${fmt(c.messages)} messages from ${fmt(c.conversations)} conversations (${c.inboundHow}), committed by an API-only node`, result: `${fmt(c.inboundPerSecond)} events/s`, reference: `fake alone ${fmt(c.fakeInboundPerSecond)} events/s to a bare client (${fmt(c.inboundPerSecond / c.fakeInboundPerSecond, 2)}x)${refused}` });
      const paced = c.pacedAt === undefined ? '' : `; Pincer paces this platform to ${c.pacedAt}/s`;
      rows.push({ measure: `${c.label} end to end: ${fmt(c.deliveries)} messages -> turn -> outbox -> ${c.sendHow}`, result: `${fmt(c.deliveriesPerSecond)} deliveries/s`, reference: `fake alone ${fmt(c.fakeSendsPerSecond)} sends/s from a bare 16-in-flight loop (${fmt(c.deliveriesPerSecond / c.fakeSendsPerSecond, 2)}x)${paced}` });
    }
  }
  if (ONLY.has('cluster')) {
    const unreachable = await postgresReachable();
    if (unreachable) {
      rows.push({ measure: 'Cluster on PostgreSQL', result: unreachable, verdict: 'n/a' });
    } else {
      const sqlite = await pincerQueueAlone();
      const pgQueue = await postgresQueueAlone(QUEUE_JOBS, queueOptionsFrom(loadConfig({ cwd: temp(), env: {} }).config));
      rows.push({ measure: 'Queue alone on PostgreSQL: enqueue', result: `${fmt(pgQueue.enqueue)} jobs/s`, reference: `SQLite ${fmt(sqlite.enqueue)} jobs/s` });
      rows.push({ measure: 'Queue alone on PostgreSQL: process', result: `${fmt(pgQueue.process)} jobs/s`, reference: `SQLite ${fmt(sqlite.process)} jobs/s` });
      for (const nodes of [1, 3]) {
        const c = await clusterThroughput(nodes, HTTP_SECONDS, CONNECTIONS, BODY);
        const errors = c.non2xx > 0 ? `; ${fmt(c.non2xx)} non-2xx` : '';
        rows.push({ measure: `Through nginx, ${nodes} node${nodes > 1 ? 's' : ''} on PostgreSQL: ingest`, result: `${fmt(c.ingest)} msg/s`, reference: `202s per second${errors}` });
        rows.push({
          measure: `Through nginx, ${nodes} node${nodes > 1 ? 's' : ''} on PostgreSQL: end to end`,
          result: `${fmt(c.endToEnd)} msg/s`,
          reference: `backlog drained ${fmt(c.drainSeconds, 1)} s after load`,
          ...(nodes === 3 && { target: '>= 5,000 msg/s', verdict: verdict(c.endToEnd >= 5000) }),
        });
      }
    }
  }
  if (ONLY.has('startup')) {
    for (const [label, env] of [
      ['default plugins (commands, sentiment, language, translation)', {}],
      ['commands plugin only', { PINCER_PLUGINS_ENABLED: 'commands' }],
    ] as const) {
      const { readyMs, idleMiB } = await startupAndIdle(env);
      rows.push({ measure: `RSS idle, ${label}`, result: `${fmt(idleMiB, 1)} MiB`, target: '<= 80 MB', verdict: verdict(idleMiB * 1.048576 <= 80) });
      rows.push({ measure: `Start to /ready, ${label}`, result: `${fmt(readyMs)} ms`, target: '<= 1,000 ms', verdict: verdict(readyMs <= 1000) });
    }
  }
  console.log('');
  printTable(rows);
}

try {
  await main();
} finally {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
