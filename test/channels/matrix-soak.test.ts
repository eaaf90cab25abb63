/**
 * The channel soak for Matrix: Pincer is SIGKILLed again and again while the homeserver fake
 * receives messages in many rooms. Matrix deduplicates a send by its transaction id, so the bar
 * is higher than Telegram's: every message is answered exactly once, none is held as ambiguous
 * (a send cut by a kill is simply sent again), and each room's answers keep its order. Run on
 * one SQLite node, and on two nodes over PostgreSQL killing the node that holds the poller.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MatrixFake, type FakeRoom, type FakeUser } from '../support/fakes/matrix.js';
import { eventually, getJson, tempDir } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';
import { freePort, spawnPincer, type PincerProcess } from '../support/process.js';

interface Node {
  dir: string;
  env: Record<string, string>;
  process: PincerProcess | undefined;
}

function writeConfig(dir: string, fake: MatrixFake): void {
  const config = {
    plugins: { enabled: ['commands'] },
    log: { access: false },
    // Kills every second or so use up attempts of the messages in flight far faster than any
    // crash loop would (the queue's poison-pill rule).
    queue: { max_attempts: 30 },
    channels: {
      defaults: { delivery: { lease: '4s' }, poller_lease: '3s' },
      matrix: { homeserver: fake.url, accounts: { default: { access_token: fake.bot.token, poll_timeout: 1, dm_policy: 'open', streaming: 'off' } } },
    },
  };
  writeFileSync(path.join(dir, 'pincer.config.json'), JSON.stringify(config));
}

async function start(node: Node): Promise<void> {
  node.process = await spawnPincer(node.env, node.dir);
}

async function kill(node: Node): Promise<void> {
  const running = node.process;
  if (!running) return;
  running.child.kill('SIGKILL');
  await running.exited;
  node.process = undefined;
}

interface SoakOptions {
  fake: MatrixFake;
  nodes: Node[];
  kills: number;
  total: number;
  rooms: number;
  victim: (nodes: Node[]) => Promise<Node>;
}

async function soak(options: SoakOptions) {
  const { fake, nodes, kills, total } = options;
  const people: Array<{ user: FakeUser; room: FakeRoom }> = Array.from({ length: options.rooms }, (_, i) => {
    const user = fake.world.user(`soak${i}_${Math.random().toString(36).slice(2, 6)}`);
    return { user, room: fake.directRoom(user) };
  });
  const texts: Array<{ room: string; text: string }> = [];
  const replies = (): number => people.reduce((n, p) => n + fake.messages(p.room).length, 0);
  let pushed = 0;
  // A steady stream of messages whether or not Pincer is up: the homeserver keeps them.
  const pushing = (async () => {
    while (pushed < total) {
      const p = people[pushed % people.length]!;
      const text = `m${pushed}`;
      fake.say(p.room, p.user, `/echo ${text}`);
      texts.push({ room: p.room.roomId, text });
      pushed++;
      await new Promise((r) => setTimeout(r, 8));
    }
  })();
  for (let k = 0; k < kills; k++) {
    const target = replies() + 1 + Math.floor(Math.random() * 20);
    await eventually(() => replies(), (n) => n >= target || n >= total, 60_000, `replies before kill ${k + 1}`);
    const victim = await options.victim(nodes);
    await kill(victim);
    await start(victim);
  }
  await pushing;
  const last = fake.world.position;
  await eventually(() => fake.confirmed.get(fake.bot.userId) ?? 0, (pos) => pos >= last, 60_000, 'every message confirmed by a sync past it');
  const base = nodes[0]!.process!.url;
  await eventually(
    async () => {
      const queue = (await getJson(`${base}/v1/admin/queue/stats`)).body.queue as { depth: number };
      const list = (await getJson(`${base}/v1/admin/channels`)).body.accounts as Array<{ deliveries: Record<string, number> }>;
      const d = list[0]?.deliveries ?? {};
      return queue.depth + (d.queued ?? 0) + (d.sending ?? 0) + (d.failed ?? 0);
    },
    (left) => left === 0,
    120_000,
    'the queue and the outbox to be idle',
  );
  const counts = new Map<string, number>();
  for (const p of people) for (const m of fake.messages(p.room)) counts.set(String(m['body']), (counts.get(String(m['body'])) ?? 0) + 1);
  const ambiguous = (await getJson(`${base}/v1/admin/channels/deliveries?state=ambiguous&limit=500`)).body.deliveries as unknown[];
  const deadMessages = (await getJson(`${base}/v1/admin/queue/stats`)).body.queue.byState.dead as number;
  const repeatedTxns = fake.sends.filter((s) => s.duplicate).length;
  return {
    twice: [...counts].filter(([, n]) => n > 1),
    unanswered: texts.filter((t) => !counts.has(t.text)),
    ambiguous,
    deadMessages,
    repeatedTxns,
    inOrder: people.every((p) => {
      const order = fake.messages(p.room).map((m) => Number(String(m['body']).slice(1)));
      return order.every((n, i) => i === 0 || n > order[i - 1]!);
    }),
  };
}

describe('matrix under SIGKILL', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('one node on SQLite, killed 20 times: every message answered exactly once, in order', async () => {
    const fake = new MatrixFake();
    await fake.start();
    const { dir, cleanup } = tempDir('pincer-matrix-soak-');
    cleanups.push(() => fake.stop(), cleanup);
    writeConfig(dir, fake);
    const node: Node = { dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()) }, process: undefined };
    cleanups.push(() => kill(node));
    await start(node);
    const result = await soak({ fake, nodes: [node], kills: 20, total: 400, rooms: 20, victim: async (nodes) => nodes[0]! });
    expect(result.twice).toEqual([]);
    expect(result.unanswered).toEqual([]);
    expect(result.ambiguous).toEqual([]);
    expect(result.deadMessages).toBe(0);
    expect(result.inOrder).toBe(true);
    console.log(`matrix soak (SQLite): 400 messages, 20 kills, each answered once; ${result.repeatedTxns} sends repeated after a kill and deduplicated by txnId`);
  }, 300_000);

  it("two nodes on PostgreSQL, killing the poller's node: every message answered exactly once, in order", async () => {
    const fake = new MatrixFake();
    await fake.start();
    const schema = await freshSchema();
    cleanups.push(() => fake.stop(), () => dropSchema(schema));
    const nodes: Node[] = [];
    for (let i = 0; i < 2; i++) {
      const { dir, cleanup } = tempDir(`pincer-matrix-soak-pg${i}-`);
      cleanups.push(cleanup);
      writeConfig(dir, fake);
      const node: Node = { dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()), PINCER_STORE: storeUrl(schema), PINCER_QUEUE_LEASE: '4s' }, process: undefined };
      nodes.push(node);
      cleanups.push(() => kill(node));
      await start(node);
    }
    const poller = (all: Node[]): Promise<Node> =>
      eventually(
        async () => {
          for (const node of all) {
            const list = await getJson(`${node.process!.url}/v1/admin/channels`).catch(() => undefined);
            if (list?.body.accounts?.[0]?.leader) return node;
          }
          return undefined;
        },
        (n): n is Node => n !== undefined,
        30_000,
        'a node to hold the poller',
      ) as Promise<Node>;
    const result = await soak({ fake, nodes, kills: 6, total: 200, rooms: 10, victim: poller });
    expect(result.twice).toEqual([]);
    expect(result.unanswered).toEqual([]);
    expect(result.ambiguous).toEqual([]);
    expect(result.deadMessages).toBe(0);
    expect(result.inOrder).toBe(true);
    console.log(`matrix soak (PostgreSQL, 2 nodes): 200 messages, 6 kills of the poller's node, each answered once; ${result.repeatedTxns} sends repeated and deduplicated`);
  }, 300_000);
});
