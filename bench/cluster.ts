import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { localNginxConfig } from './local-nginx.js';
import { PostgresQueue } from '../src/store/postgres/queue.js';
import type { Queue, QueueOptions } from '../src/store/types.js';
import { CLI, sleep, spawnServer, type Child } from './lib.js';
import { measureQueueAlone } from './queue-alone.js';

/**
 * Cluster mode figures (issue #6): messages/s through nginx with 1 and with 3 nodes on one
 * PostgreSQL, and the queue alone on PostgreSQL. Each run gets its own schema, dropped after.
 */

const PG_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function postgresUrl(schema: string, extra = ''): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}${extra}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

export async function postgresReachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return undefined;
  } catch (err) {
    return `not measured: PostgreSQL at ${PG_URL.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@')} unreachable (${(err as Error).message})`;
  }
}

export interface ClusterFigures {
  /** 202s per second through nginx. */
  ingest: number;
  /** Accepted messages per second until every one was answered. */
  endToEnd: number;
  drainSeconds: number;
  non2xx: number;
}

/** `nodes` Pincer processes on one PostgreSQL schema behind nginx; autocannon through nginx. */
export async function clusterThroughput(nodes: number, seconds: number, connections: number, body: string): Promise<ClusterFigures> {
  const schema = `pincer_bench_${process.pid}_${nodes}_${Date.now() % 1e8}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'pincer-bench-cluster-'));
  const servers: Child[] = [];
  const nginxDir = path.join(dir, 'nginx');
  mkdirSync(nginxDir);
  const upstreamFile = path.join(nginxDir, 'upstream.conf');
  const conf = path.join(nginxDir, 'nginx.conf');
  let nginx: ReturnType<typeof spawn> | undefined;
  try {
    // The first node migrates the schema; the others then start side by side.
    const env = (i: number) => ({
      PINCER_STORE: postgresUrl(schema, '&pool=16'),
      PINCER_DATA_DIR: path.join(dir, `node${i}`),
      PINCER_PORT: '0',
      PINCER_LOG_LEVEL: 'info',
      PINCER_LOG_ACCESS: 'false',
      PINCER_PLUGINS_ENABLED: 'commands',
      PINCER_QUEUE_MAX_LENGTH_CAP: '10000000',
      // Experiments: BENCH_CLUSTER_ENV='{"PINCER_WORKERS_CONCURRENCY":"64"}'.
      ...(JSON.parse(process.env.BENCH_CLUSTER_ENV ?? '{}') as Record<string, string>),
    });
    servers.push(await spawnServer([CLI, 'start'], env(0), dir));
    servers.push(...(await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => spawnServer([CLI, 'start'], env(i + 1), dir)))));
    const upstream = servers.map((s) => `  server ${new URL(s.url).host} max_fails=1 fail_timeout=2s;`).join('\n');
    writeFileSync(upstreamFile, `upstream pincer {\n  least_conn;\n${upstream}\n  keepalive 64;\n}\n`);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    writeFileSync(conf, localNginxConfig({ prefix: nginxDir, upstreamFile, port }));
    nginx = spawn('nginx', ['-p', nginxDir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200 && !(await fetch(`${base}/lb-health`).then((r) => r.ok).catch(() => false)); i++) await sleep(25);

    const started = performance.now();
    const result = await autocannon({ url: `${base}/v1/messages`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
    for (;;) {
      const stats = (await (await fetch(`${base}/v1/admin/queue/stats`)).json()) as { queue: { depth: number } };
      if (stats.queue.depth === 0) break;
      await sleep(20);
    }
    const total = (performance.now() - started) / 1000;
    return { ingest: result['2xx'] / seconds, endToEnd: result['2xx'] / total, drainSeconds: total - seconds, non2xx: result.non2xx + result.errors };
  } finally {
    nginx?.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.stop()));
    if (existsSync(path.join(nginxDir, 'nginx.pid'))) await sleep(100);
    await dropSchema(schema);
  }
}

/** The queue alone on PostgreSQL: in-process enqueue, then claim and complete with 32 workers and a no-op handler. */
export async function postgresQueueAlone(jobs: number, options: QueueOptions): Promise<{ enqueue: number; process: number }> {
  const schema = `pincer_bench_q_${process.pid}_${Date.now() % 1e8}`;
  const queue: Queue = await PostgresQueue.open(postgresUrl(schema, '&pool=16'), { ...options, maxLengthCap: 10_000_000 });
  try {
    return await measureQueueAlone(queue, jobs);
  } finally {
    await queue.close();
    await dropSchema(schema);
  }
}
