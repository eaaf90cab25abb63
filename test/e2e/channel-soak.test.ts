/**
 * The product bar for channels: Pincer is SIGKILLed again and again while a Telegram fake sends
 * updates from many chats. Every update must be answered exactly once, or have its delivery
 * listed as ambiguous (the send may have reached Telegram when the process died, and Telegram
 * cannot dedupe), and none may be answered twice. Run on one SQLite node, and on two nodes over
 * PostgreSQL killing the node that holds the poller.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TelegramFake, type FakeChat, type FakeUser } from '../support/fakes/telegram.js';
import { eventually, getJson, tempDir } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';
import { freePort, spawnPincer, type PincerProcess } from '../support/process.js';

interface Chat {
  user: FakeUser;
  chat: FakeChat;
}

interface Node {
  dir: string;
  env: Record<string, string>;
  process: PincerProcess | undefined;
}

function writeConfig(dir: string, fake: TelegramFake): void {
  const config = {
    plugins: { enabled: ['commands'] },
    log: { access: false },
    // A message in flight when the process dies has used an attempt (the queue's poison-pill
    // rule: five and it is dead). This soak kills every second or so, far faster than any
    // crash loop, so the lane heads of a restart are caught again and again.
    queue: { max_attempts: 30 },
    channels: {
      // Short leases so a killed node's deliveries and poller are taken over within seconds.
      defaults: { delivery: { lease: '4s' }, poller_lease: '3s' },
      telegram: { api_root: fake.url, accounts: { default: { token: fake.token, poll_timeout: 1, dm_policy: 'open', streaming: 'off' } } },
    },
  };
  writeFileSync(path.join(dir, 'pincer.config.json'), JSON.stringify(config));
}

async function start(node: Node): Promise<PincerProcess> {
  node.process = await spawnPincer(node.env, node.dir);
  return node.process;
}

async function kill(node: Node): Promise<void> {
  const running = node.process;
  if (!running) return;
  running.child.kill('SIGKILL');
  await running.exited;
  node.process = undefined;
}

/** The random point of a kill: after this many more replies reach the fake. */
function nextKillAfter(): number {
  return 1 + Math.floor(Math.random() * 20);
}

async function soak(options: { fake: TelegramFake; nodes: Node[]; kills: number; total: number; chats: number; victim: (nodes: Node[]) => Promise<Node> }) {
  const { fake, nodes, kills, total } = options;
  const chats: Chat[] = Array.from({ length: options.chats }, (_, i) => {
    const user = fake.user({ id: 700_000 + i, first_name: `Soak${i}` });
    return { user, chat: fake.privateChat(user) };
  });
  const texts: Array<{ chat: number; text: string }> = [];
  let pushed = 0;
  // A steady stream of updates, whether or not Pincer is up: Telegram keeps them meanwhile.
  const pushing = (async () => {
    while (pushed < total) {
      const c = chats[pushed % chats.length] as Chat;
      const text = `m${pushed}`;
      fake.pushMessage({ chat: c.chat, from: c.user, text: `/echo ${text}`, entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
      texts.push({ chat: c.chat.id, text });
      pushed++;
      await new Promise((r) => setTimeout(r, 8));
    }
  })();
  for (let k = 0; k < kills; k++) {
    const target = fake.sent().length + nextKillAfter();
    await eventually(() => fake.sent().length, (n) => n >= target || (pushed >= total && fake.pendingUpdates.length === 0), 60_000, `replies before kill ${k + 1}`);
    const victim = await options.victim(nodes);
    await kill(victim);
    await start(victim);
  }
  await pushing;
  const base = nodes[0]!.process!.url;
  // Done: nothing pending at Telegram, and every delivery ended (sent, or held as ambiguous).
  await eventually(() => fake.pendingUpdates.length, (n) => n === 0, 60_000, 'every update confirmed');
  // Then nothing is left to do: no message waiting or in work, no delivery waiting or sending.
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
  ).catch(async (err: unknown) => {
    {
      // What was left, for whoever reads the failure.
      const admin = await getJson(`${base}/v1/admin/channels`);
      const queue = await getJson(`${base}/v1/admin/queue/stats`);
      console.log('DEBUG', JSON.stringify(admin.body), JSON.stringify(queue.body.queue.byState));
      for (const state of ['queued', 'failed', 'dead', 'sending']) console.log('DEBUG', state, JSON.stringify((await getJson(`${base}/v1/admin/channels/deliveries?state=${state}&limit=3`)).body.deliveries));
      console.log('DEBUG dead msgs', JSON.stringify((await getJson(`${base}/v1/admin/queue/dead?limit=3`)).body));
    }
    throw err;
  });
  const ambiguous = (await getJson(`${base}/v1/admin/channels/deliveries?state=ambiguous&limit=500`)).body.deliveries as Array<{ text: string; lastError: string }>;
  const counts = new Map<string, number>();
  for (const m of fake.sent()) counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  const unanswered = texts.filter((t) => !counts.has(t.text));
  const held = new Set(ambiguous.map((d) => d.text));
  // Held sends that did reach the chat: each would have been a double had it been resent.
  const heldButSent = ambiguous.filter((d) => counts.has(d.text)).length;
  const deadMessages = (await getJson(`${base}/v1/admin/queue/stats`)).body.queue.byState.dead as number;
  return { texts, counts, twice, unanswered, held, ambiguous, heldButSent, deadMessages };
}

describe('channels under SIGKILL', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('one node on SQLite, killed 20 times: every update answered once or held as ambiguous, none twice', async () => {
    const fake = new TelegramFake({ limits: false });
    await fake.start();
    const { dir, cleanup } = tempDir('pincer-soak-');
    cleanups.push(() => fake.stop(), cleanup);
    writeConfig(dir, fake);
    const node: Node = { dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()) }, process: undefined };
    cleanups.push(() => kill(node));
    await start(node);
    const result = await soak({ fake, nodes: [node], kills: 20, total: 500, chats: 20, victim: async (nodes) => nodes[0]! });
    expect(result.twice).toEqual([]);
    for (const missing of result.unanswered) expect(result.held.has(missing.text), `update ${missing.text} has no reply and no ambiguous delivery`).toBe(true);
    expect(result.deadMessages).toBe(0);
    // An ambiguous delivery comes only from a send cut by a kill: at most the deliveries in
    // flight (channels.defaults.delivery.concurrency, 16) per kill.
    expect(result.ambiguous.length).toBeLessThanOrEqual(20 * 16);
    // Replies of a chat came in the order its updates were sent.
    for (const chatId of new Set(result.texts.map((t) => t.chat))) {
      const order = fake.sent(chatId).map((m) => Number(m.text.slice(1)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    console.log(`channel soak (SQLite): ${result.texts.length} updates, 20 kills, ${result.counts.size} answered once, ${result.ambiguous.length} held as ambiguous (${result.heldButSent} of them had reached the chat), 0 twice`);
  }, 300_000);

  it("two nodes on PostgreSQL, killing the poller's node: every update answered once or held, none twice", async () => {
    const fake = new TelegramFake({ limits: false });
    await fake.start();
    const schema = await freshSchema();
    cleanups.push(() => fake.stop(), () => dropSchema(schema));
    const nodes: Node[] = [];
    for (let i = 0; i < 2; i++) {
      const { dir, cleanup } = tempDir(`pincer-soak-pg${i}-`);
      cleanups.push(cleanup);
      writeConfig(dir, fake);
      const node: Node = { dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()), PINCER_STORE: storeUrl(schema), PINCER_QUEUE_LEASE: '4s' }, process: undefined };
      nodes.push(node);
      cleanups.push(() => kill(node));
      await start(node);
    }
    const poller = async (all: Node[]): Promise<Node> => {
      // The node whose account runner holds the lease (it says "leader").
      return eventually(
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
    };
    const result = await soak({ fake, nodes, kills: 6, total: 200, chats: 10, victim: poller });
    expect(result.twice).toEqual([]);
    for (const missing of result.unanswered) expect(result.held.has(missing.text), `update ${missing.text} has no reply and no ambiguous delivery`).toBe(true);
    expect(result.deadMessages).toBe(0);
    expect(result.ambiguous.length).toBeLessThanOrEqual(6 * 16);
    console.log(`channel soak (PostgreSQL, 2 nodes): ${result.texts.length} updates, 6 kills of the poller's node, ${result.counts.size} answered once, ${result.ambiguous.length} held as ambiguous (${result.heldButSent} of them had reached the chat), 0 twice`);
  }, 300_000);
});
