import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, getJson, tempDir } from '../support/index.js';
import { startNginx, writeShippedNginxConfig } from '../support/nginx.js';
import { dropSchema, PG_URL } from '../support/postgres.js';
import { CLI, freePort, spawnPincer, type PincerProcess } from '../support/process.js';

const TOTAL = 3000;
const CLIENTS = 8;
const CONVERSATIONS = 24;
const KILL_AT = 500;
const RESTART_AT = 1000;

/**
 * S2.2-S2.5 for real: three `pincer start` processes on one PostgreSQL, nginx in front, and
 * `pincer upstream-check` probing /health (here every 300 ms, down after 3 failures, up after
 * 2 passes). A steady load goes through nginx; one node is killed with SIGKILL in the middle
 * and started again. Every message that got a 202 is answered exactly once, and the cluster
 * keeps accepting while the node is down.
 */
describe('cluster: three nodes on PostgreSQL behind nginx', () => {
  const { dir, cleanup } = tempDir('pincer-cluster-');
  const schema = `pincer_cluster_${process.pid}_${Date.now()}`;
  const store = `${PG_URL}?schema=${schema}`;
  const nodes: Array<PincerProcess | undefined> = [];
  const children: ChildProcess[] = [];
  const output: string[] = [];

  afterAll(async () => {
    for (const node of nodes) node?.child.kill('SIGKILL');
    for (const child of children) child.kill('SIGTERM');
    await dropSchema(schema);
    cleanup();
  });

  it('answers every accepted message exactly once while a node is killed and brought back', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const nodeEnv = (i: number): Record<string, string> => ({
      PINCER_STORE: store,
      PINCER_DATA_DIR: path.join(dir, `node${i}`),
      PINCER_PORT: String(ports[i]),
      PINCER_LOG_LEVEL: 'info',
      PINCER_LOG_ACCESS: 'false',
      PINCER_PLUGINS_ENABLED: 'commands',
      PINCER_WORKERS_CONCURRENCY: '8',
      // A dead node's in-flight messages are re-delivered when their lease runs out.
      PINCER_QUEUE_LEASE: '3s',
    });
    // Three nodes starting at once: the schema migration must run exactly once, safely.
    const started = await Promise.all([0, 1, 2].map((i) => spawnPincer(nodeEnv(i), dir)));
    nodes.push(...started);

    // upstream-check writes the upstream block before nginx reads it.
    const nginxDir = path.join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const upstreamFile = path.join(nginxDir, 'upstream.conf');
    const nginxPort = await freePort();
    // The shipped deploy/nginx/nginx.conf carries the traffic, with the upstream from upstream-check.
    const nginxConf = writeShippedNginxConfig({ prefix: nginxDir, upstreamFile, port: nginxPort });
    const nodeList = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const checker = spawn(process.execPath, [CLI, 'upstream-check', '--nodes', nodeList, '--file', upstreamFile, '--interval', '300ms', '--timeout', '250ms', '--fall', '3', '--rise', '2', '--reload', `nginx -p ${nginxDir} -c ${nginxConf} -s reload`], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(checker);
    checker.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
    checker.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    await eventually(() => existsSync(upstreamFile), (e) => e, 10_000, 'the upstream block written');
    const nginx = await startNginx(nginxDir, nginxConf, nginxPort, output);
    children.push(nginx.child);
    const base = nginx.base;

    const accepted = new Map<string, string>(); // idempotency key -> message id
    let acceptedWhileDown = 0;
    let down = false;
    let retries = 0;
    let next = 0;
    let killed: Promise<void> | undefined;
    let restarted: Promise<void> | undefined;

    const sendOne = async (n: number) => {
      const key = `cluster-${n}`;
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${base}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ text: `/echo ${key}`, conversationId: `conv-${n % CONVERSATIONS}` }),
        }).catch(() => undefined);
        if (res?.status === 202) {
          const body = (await res.json()) as { id: string };
          const known = accepted.get(key);
          if (known) expect(body.id).toBe(known);
          accepted.set(key, body.id);
          if (down) acceptedWhileDown++;
          return;
        }
        // A careful client: on a network error or a 5xx, send again with the same key.
        await res?.body?.cancel();
        expect(res === undefined || res.status >= 500, `unexpected status ${res?.status}`).toBe(true);
        expect(attempt).toBeLessThan(50);
        retries++;
      }
    };

    const client = async () => {
      while (next < TOTAL) {
        const n = next++;
        await sendOne(n);
        if (accepted.size >= KILL_AT && !killed) {
          const victim = nodes[1] as PincerProcess;
          victim.child.kill('SIGKILL');
          down = true;
          killed = victim.exited.then(() => undefined);
        }
        if (accepted.size >= RESTART_AT && killed && !restarted) {
          restarted = killed.then(async () => {
            nodes[1] = await spawnPincer(nodeEnv(1), dir);
            down = false;
          });
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await restarted;

    // The checker saw the node go down and come back, and nginx was reloaded for both.
    await eventually(() => output.join('\n'), (o) => /"node":"127\.0\.0\.1:\d+","up":true/.test(o), 10_000, 'the restarted node marked up');
    expect(output.join('\n')).toMatch(new RegExp(`"node":"127\\.0\\.0\\.1:${ports[1]}","up":false`));
    expect(acceptedWhileDown).toBeGreaterThan(0);
    expect(accepted.size).toBe(TOTAL);
    // Back in the pool: the restarted node took part of the rest of the load.
    const restartedMetrics = await (await fetch(`${(nodes[1] as PincerProcess).url}/metrics`)).text();
    const served = Number(/pincer_http_requests_total\{method="POST",route="\/v1\/messages",status="202"\} (\d+)/.exec(restartedMetrics)?.[1] ?? 0);
    expect(served).toBeGreaterThan(0);

    // Everything accepted is answered, once, across the cluster.
    await eventually(async () => (await getJson(`${base}/v1/admin/queue/stats`)).body.queue.depth as number, (d) => d === 0, 60_000, 'the backlog drained');
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    try {
      const ids = [...accepted.values()];
      expect(new Set(ids).size).toBe(TOTAL);
      const rows = await db.query(`SELECT id, state, reply->>'text' AS reply_text FROM "${schema}".messages WHERE id = ANY($1)`, [ids]);
      expect(rows.rowCount).toBe(TOTAL);
      const byId = new Map(rows.rows.map((r: { id: string; state: string; reply_text: string }) => [r.id, r]));
      for (const [key, id] of accepted) expect(byId.get(id)).toMatchObject({ state: 'done', reply_text: key });
      const total = await db.query(`SELECT count(*)::int AS n FROM "${schema}".messages`);
      expect(total.rows[0].n).toBe(TOTAL);
    } finally {
      await db.end();
    }
    console.log(`cluster: ${TOTAL} accepted (${acceptedWhileDown} while a node was down, ${served} by the restarted node), ${retries} client retries`);
  }, 180_000);
});
