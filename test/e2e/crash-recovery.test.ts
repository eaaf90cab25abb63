import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, getJson, tempDir } from '../support/index.js';
import { freePort, spawnPincer, type PincerProcess } from '../support/process.js';

const CLIENTS = 16;
const TOTAL = 1500;
/** Kill points by accepted count: first an API-only node holding a backlog, then a node busy working it off. */
const KILLS = [1000, 1010];
const CONVERSATIONS = 6;

/**
 * S4.2 end-to-end: users send messages over HTTP while the server is killed with SIGKILL and
 * started again. Clients do what a careful client does: on a network error they resend with
 * the same Idempotency-Key. Every message that got a 202 must end with exactly one reply.
 */
describe('end to end: SIGKILL in the middle of a load', () => {
  const { dir, cleanup } = tempDir('pincer-e2e-');
  let server: PincerProcess | undefined;
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    cleanup();
  });

  it('answers every accepted message exactly once across crashes', async () => {
    const port = await freePort();
    const env = { PINCER_DATA_DIR: dir, PINCER_PORT: String(port), PINCER_LOG_LEVEL: 'info', PINCER_LOG_ACCESS: 'false', PINCER_WORKERS_CONCURRENCY: '4' };
    // The first run only accepts (workers disabled), so the first kill finds a backlog on disk.
    server = await spawnPincer({ ...env, PINCER_WORKERS_ENABLED: 'false' }, dir);
    const base = server.url;

    const accepted = new Map<string, string>(); // idempotency key -> message id
    let next = 0;
    let kills = 0;
    let killing = false;
    let restarted: Promise<void> | undefined;
    let networkErrors = 0;
    const depthAtKill: number[] = [];

    const sendOne = async (n: number) => {
      const key = `load-${n}`;
      for (;;) {
        try {
          const res = await fetch(`${base}/v1/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            body: JSON.stringify({ text: `/echo ${key}`, conversationId: `conv-${n % CONVERSATIONS}` }),
          });
          const body = (await res.json()) as { id: string };
          expect(res.status).toBe(202);
          const known = accepted.get(key);
          if (known) expect(body.id).toBe(known);
          accepted.set(key, body.id);
          return;
        } catch (err) {
          if (!(err instanceof TypeError)) throw err; // only network failures are retried
          networkErrors++;
          await restarted;
        }
      }
    };

    const client = async () => {
      while (next < TOTAL) {
        const n = next++;
        await sendOne(n);
        if (!killing && kills < KILLS.length && accepted.size >= KILLS[kills]!) {
          killing = true;
          const stats = await getJson(`${base}/v1/admin/queue/stats`);
          depthAtKill.push(stats.body.queue.depth);
          server!.child.kill('SIGKILL');
          kills++;
          restarted = server!.exited.then(async () => {
            server = await spawnPincer(env, dir);
            killing = false;
          });
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await restarted;
    expect(kills).toBe(KILLS.length);
    // Both kills hit unfinished work: a stored backlog, then a backlog being worked off.
    expect(depthAtKill[0]).toBeGreaterThanOrEqual(KILLS[0]!);
    expect(depthAtKill[1]).toBeGreaterThan(0);
    expect(server!.output.some((l) => l.includes('"event":"listening"'))).toBe(true);

    // Wait for the queue to drain, then check every accepted message.
    await eventually(() => getJson(`${base}/v1/admin/queue/stats`), (r) => r.body.queue.depth === 0, 30_000, 'queue drained');
    expect(accepted.size).toBe(TOTAL);
    for (const [key, id] of accepted) {
      const res = await getJson(`${base}/v1/messages/${id}`);
      expect(res.body.status, `message ${key}`).toBe('done');
      expect(res.body.reply.text).toBe(key);
    }

    // Stop the server gracefully and read the store directly: one row and one reply per key.
    server!.child.kill('SIGTERM');
    expect(await server!.exited).toBe(0);
    const db = new Database(path.join(dir, 'pincer.db'), { readonly: true });
    const rows = db.prepare('SELECT idempotency_key AS k, state, reply, conversation_id AS c, seq, finished_at AS f FROM messages ORDER BY seq').all() as Array<{ k: string; state: string; reply: string; c: string; seq: number; f: number }>;
    db.close();
    expect(rows).toHaveLength(TOTAL);
    expect(new Set(rows.map((r) => r.k)).size).toBe(TOTAL);
    expect(rows.every((r) => r.state === 'done' && JSON.parse(r.reply).text === r.k)).toBe(true);
    // Per-conversation order held through the crash: finish times follow arrival order.
    for (let c = 0; c < CONVERSATIONS; c++) {
      const finished = rows.filter((r) => r.c === `conv-${c}`).map((r) => r.f);
      expect(finished).toEqual([...finished].sort((a, b) => a - b));
    }
    console.log(`e2e: ${TOTAL} messages, SIGKILLed at ${KILLS.join(' and ')} accepted with ${depthAtKill.join(' and ')} unfinished, ${networkErrors} client retries after network errors`);
  }, 120_000);
});
