import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresMessageEvents } from '../../src/events/postgres.js';
import { MAX_PAYLOAD_BYTES } from '../../src/events/relay-payloads.js';
import type { MessageEvent } from '../../src/events/types.js';
import { eventsChannel } from '../../src/store/open.js';
import { connectPostgres, type PostgresConnection } from '../../src/store/postgres/queue.js';
import { eventually } from '../support/index.js';
import { dropSchema, freshSchema, PG_URL, storeUrl } from '../support/postgres.js';

interface Node {
  connection: PostgresConnection;
  events: PostgresMessageEvents;
}

describe('PostgresMessageEvents: message events across nodes', () => {
  let schema: string;
  const nodes: Node[] = [];
  const spies: pg.Client[] = [];

  const node = async (): Promise<Node> => {
    const connection = await connectPostgres(storeUrl(schema), Date.now);
    const events = new PostgresMessageEvents(connection.pool, connection.listener, eventsChannel(schema), connection.nodeId);
    await connection.listener.start();
    const n = { connection, events };
    nodes.push(n);
    return n;
  };

  /** Every payload sent on the events channel, as PostgreSQL delivers it. */
  const spy = async (): Promise<string[]> => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const seen: string[] = [];
    client.on('notification', (m) => m.channel === eventsChannel(schema) && seen.push(m.payload ?? ''));
    await client.query(`LISTEN "${eventsChannel(schema)}"`);
    spies.push(client);
    return seen;
  };

  const collect = (n: Node, id: string): MessageEvent[] => {
    const seen: MessageEvent[] = [];
    n.events.subscribe(id, (e) => seen.push(e));
    return seen;
  };
  const text = (events: MessageEvent[]) => events.map((e) => (e.type === 'token' ? e.delta : '')).join('');
  const finished = (events: MessageEvent[]) => events.some((e) => e.type === 'status' && e.status === 'done');

  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      await n.events.close();
      await n.connection.listener.stop();
      await n.connection.pool.end();
    }
    for (const c of spies.splice(0)) await c.end();
    await dropSchema(schema);
  });

  it('relays a watched message: processing, every token in order (a reply far over 8,000 bytes), done', async () => {
    schema = await freshSchema();
    const [api, worker] = [await node(), await node()];
    const payloads = await spy();
    const seen = collect(api, 'm1');
    // The watch reaches the worker node before it starts: the announcement is a payload on the channel.
    await eventually(() => payloads.length, (n) => n >= 1, 5000, 'the watch announcement');
    await eventually(() => worker.events.remoteWatches, (n) => n === 1, 5000, 'the worker node to hear the watch');
    const reply = Array.from({ length: 2000 }, (_, i) => `tok${i} ✓😀\u0001 `).join('');
    worker.events.publish({ type: 'status', id: 'm1', status: 'processing', attempts: 1, createdAt: Date.now() });
    for (let i = 0; i < reply.length; i += 7) worker.events.publish({ type: 'token', id: 'm1', delta: reply.slice(i, i + 7), attempt: 1 });
    worker.events.publish({ type: 'status', id: 'm1', status: 'done', attempts: 1, createdAt: Date.now() });
    await eventually(() => finished(seen), Boolean, 10_000, 'done on the API node');
    expect(seen[0]).toMatchObject({ type: 'status', status: 'processing', attempts: 1 });
    expect(text(seen)).toBe(reply);
    expect(seen.at(-1)).toMatchObject({ type: 'status', status: 'done' });
    expect(Buffer.byteLength(reply)).toBeGreaterThan(8000);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  });

  it("relays a tool loop's steps and tool results in order with the tokens around them", async () => {
    schema = await freshSchema();
    const [api, worker] = [await node(), await node()];
    const seen = collect(api, 'm2');
    await eventually(() => worker.events.remoteWatches, (n) => n === 1, 5000, 'the worker node to hear the watch');
    worker.events.publish({ type: 'status', id: 'm2', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'step', id: 'm2', index: 0, attempt: 1 });
    worker.events.publish({ type: 'token', id: 'm2', delta: 'Looking. ', attempt: 1 });
    worker.events.publish({ type: 'tool', id: 'm2', tool: 'lookup', ok: true, ms: 5, attempt: 1 });
    worker.events.publish({ type: 'step', id: 'm2', index: 1, attempt: 1 });
    worker.events.publish({ type: 'token', id: 'm2', delta: 'Found it.', attempt: 1 });
    worker.events.publish({ type: 'status', id: 'm2', status: 'done', attempts: 1, createdAt: Date.now() });
    await eventually(() => finished(seen), Boolean, 10_000, 'done on the API node');
    expect(seen.map((e) => (e.type === 'token' ? `token ${e.delta}` : e.type === 'step' ? `step ${e.index}` : e.type === 'tool' ? `tool ${e.tool} ${e.ok}` : e.type === 'status' ? e.status : e.type))).toEqual([
      'processing',
      'step 0',
      'token Looking. ',
      'tool lookup true',
      'step 1',
      'token Found it.',
      'done',
    ]);
  });

  it('answers a watch that arrives mid-reply with the text so far, and one after the finish with the outcome', async () => {
    schema = await freshSchema();
    const [api, worker] = [await node(), await node()];
    worker.events.publish({ type: 'status', id: 'late', status: 'processing', attempts: 2, createdAt: Date.now() });
    worker.events.publish({ type: 'token', id: 'late', delta: 'Hello, ', attempt: 2 });
    const seen = collect(api, 'late');
    await eventually(() => text(seen), (t) => t === 'Hello, ', 5000, 'the text so far');
    worker.events.publish({ type: 'token', id: 'late', delta: 'world', attempt: 2 });
    worker.events.publish({ type: 'status', id: 'late', status: 'done', attempts: 2, createdAt: Date.now() });
    await eventually(() => finished(seen), Boolean, 5000, 'done');
    expect(seen[0]).toMatchObject({ type: 'status', status: 'processing', attempts: 2 });
    expect(text(seen)).toBe('Hello, world');

    worker.events.publish({ type: 'status', id: 'gone', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'status', id: 'gone', status: 'dead', attempts: 1, error: 'boom', createdAt: Date.now() });
    const after = collect(api, 'gone');
    await eventually(() => after, (a) => a.length > 0, 5000, 'the outcome of a finished message');
    expect(after).toEqual([{ type: 'status', id: 'gone', status: 'dead', attempts: 1, error: 'boom' }]);
  });

  it('gives a second watching node the text so far, though another node already watches', async () => {
    schema = await freshSchema();
    const [first, second, worker] = [await node(), await node(), await node()];
    const early = collect(first, 'two');
    await eventually(() => worker.events.remoteWatches, (n) => n === 1, 5000, 'the first watch');
    worker.events.publish({ type: 'status', id: 'two', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'token', id: 'two', delta: 'so far', attempt: 1 });
    await eventually(() => text(early), (t) => t === 'so far', 5000, 'the first watcher streaming');
    const late = collect(second, 'two');
    await eventually(() => text(late), (t) => t === 'so far', 5000, 'the text so far for the late watcher');
    expect(late[0]).toMatchObject({ type: 'status', status: 'processing', attempts: 1 });
    worker.events.publish({ type: 'status', id: 'two', status: 'done', attempts: 1, createdAt: Date.now() });
    await eventually(() => finished(late) && finished(early), Boolean, 5000, 'done on both');
    expect(text(early)).toBe('so far');
  });

  it('sends nothing for messages nobody watches on another node', async () => {
    schema = await freshSchema();
    const [api, worker] = [await node(), await node()];
    const payloads = await spy();
    worker.events.publish({ type: 'status', id: 'quiet', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'token', id: 'quiet', delta: 'unseen', attempt: 1 });
    worker.events.publish({ type: 'status', id: 'quiet', status: 'done', attempts: 1, createdAt: Date.now() });
    // A watched message afterwards: once its events have arrived, anything sent before them has too.
    const seen = collect(api, 'loud');
    await eventually(() => worker.events.remoteWatches, (n) => n === 1, 5000, 'the watch');
    worker.events.publish({ type: 'status', id: 'loud', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'status', id: 'loud', status: 'done', attempts: 1, createdAt: Date.now() });
    await eventually(() => finished(seen), Boolean, 5000, 'the watched message');
    await eventually(() => payloads.some((p) => p.includes('"done"')), Boolean, 5000, 'the spy to see it');
    expect(payloads.filter((p) => p.includes('quiet'))).toEqual([]);
  });

  it('starts a new attempt afresh: tokens of attempt 2 are not spliced onto attempt 1', async () => {
    schema = await freshSchema();
    const [api, worker] = [await node(), await node()];
    const seen = collect(api, 'r');
    await eventually(() => worker.events.remoteWatches, (n) => n === 1, 5000, 'the watch');
    worker.events.publish({ type: 'status', id: 'r', status: 'processing', attempts: 1, createdAt: Date.now() });
    worker.events.publish({ type: 'token', id: 'r', delta: 'first try', attempt: 1 });
    worker.events.publish({ type: 'status', id: 'r', status: 'failed', attempts: 1, error: 'x', createdAt: Date.now() });
    worker.events.publish({ type: 'status', id: 'r', status: 'processing', attempts: 2, createdAt: Date.now() });
    worker.events.publish({ type: 'token', id: 'r', delta: 'second', attempt: 2 });
    worker.events.publish({ type: 'status', id: 'r', status: 'done', attempts: 2, createdAt: Date.now() });
    await eventually(() => finished(seen), Boolean, 5000, 'done');
    expect(seen.map((e) => (e.type === 'token' ? `${e.attempt}:${e.delta}` : `${e.type === 'status' ? e.status : e.type}`))).toEqual([
      'processing',
      '1:first try',
      'failed',
      'processing',
      '2:second',
      'done',
    ]);
  });
});
