import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, postJson, startPincer, type RunningPincer } from '../support/index.js';

const ADMIN_URL = process.env.PINCER_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * PostgreSQL going away under a running node, for real: its database stops accepting
 * connections and the node's are terminated. The node must answer 503 (never a 202 it did not
 * commit, never a 500), /health must turn 503 for the balancer, and both must recover by
 * themselves when the database is back.
 */
describe('a node whose PostgreSQL goes away', () => {
  const database = `pincer_unavailable_${process.pid}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  let bot: RunningPincer;

  beforeAll(async () => {
    await admin.connect().catch((err: unknown) => {
      throw new Error(`PostgreSQL is needed at ${ADMIN_URL} (set PINCER_TEST_POSTGRES): ${String(err)}`);
    });
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${database}`;
    bot = await startPincer({ PINCER_STORE: `${url.toString()}?pool=4&poll=200` });
  });

  afterAll(async () => {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    await bot?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('answers 503 while the store is gone and recovers when it is back', async () => {
    expect((await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/ping' })).body.reply.text).toBe('pong');

    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);

    const refused = await postJson(`${bot.url}/v1/messages`, { text: '/ping' });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('STORE_UNAVAILABLE');
    expect(refused.headers.get('retry-after')).toBe('1');
    const health = await fetch(`${bot.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/^UNAVAILABLE: store: /);

    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    await eventually(async () => (await fetch(`${bot.url}/health`)).status, (s) => s === 200, 10_000, '/health back to 200');
    const again = await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/ping' });
    expect(again.status).toBe(200);
    expect(again.body.reply.text).toBe('pong');
  });
});
