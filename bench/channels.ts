/**
 * Channels through the Telegram Bot API fake (the test suite's, speaking the real wire
 * protocol): how fast a backlog of updates is taken in (polled, decided, committed, confirmed),
 * and how fast replies go out through the outbox. Each figure has a reference measured in the
 * same run: the fake's own capacity for the same calls, driven by a plain client loop.
 */
import { Agent, request } from 'undici';
import { loadConfig } from '../src/config/load.js';
import { Pincer } from '../src/pincer.js';
import { TelegramFake } from '../test/support/fakes/telegram.js';
import { sleep } from './lib.js';

export interface ChannelFigures {
  updates: number;
  chats: number;
  inboundPerSecond: number;
  deliveriesPerSecond: number;
  /** The fake answering getUpdates (100 a call) and sendMessage to a plain client. */
  fakeUpdatesPerSecond: number;
  fakeSendsPerSecond: number;
}

function channelsConfig(fake: TelegramFake) {
  // Telegram's real limits (1/s a chat, 30/s a bot) would make this a measure of those limits;
  // they are lifted so the figure is Pincer's own machinery.
  return { defaults: { delivery: { concurrency: Number(process.env.BENCH_DELIVERY_CONCURRENCY ?? 16) } }, telegram: { api_root: fake.url, accounts: { default: { token: fake.token, poll_timeout: 1, dm_policy: 'open', streaming: 'off', rate: { per_chat: '1000/s', per_group: '1000/s', global: '100000/s' } } } } };
}

async function until(probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('the channel benchmark did not finish in time');
    // The fake's views are scans of everything it holds: looking often would be the bottleneck.
    await sleep(50);
  }
}

function push(fake: TelegramFake, updates: number, chats: number, firstUser = 0): void {
  const users = Array.from({ length: chats }, (_, i) => fake.user({ id: 900_000 + firstUser + i, first_name: `Bench${i}` }));
  for (let n = 0; n < updates; n++) {
    const user = users[n % chats]!;
    fake.pushMessage({ chat: fake.privateChat(user), from: user, text: `/echo b${n}`, entities: [{ type: 'bot_command', offset: 0, length: 5 }] });
  }
}

/** The fake's capacity for what Pincer asks of it: getUpdates of 100 and confirmation, and sendMessage with 16 in flight. */
async function fakeCapacity(updates: number, chats: number): Promise<{ updatesPerSecond: number; sendsPerSecond: number }> {
  const fake = new TelegramFake({ limits: false });
  await fake.start();
  const dispatcher = new Agent({ connections: 16 });
  try {
    push(fake, updates, chats);
    const call = async (method: string, body: unknown) => {
      const res = await request(`${fake.url}/bot${fake.token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), dispatcher });
      return (await res.body.json()) as { result: Array<{ update_id: number }> };
    };
    let start = performance.now();
    let offset = 0;
    while (fake.pendingUpdates.length > 0) {
      const got = await call('getUpdates', { offset, limit: 100, timeout: 0 });
      const last = got.result.at(-1);
      if (last) offset = last.update_id + 1;
    }
    const updatesPerSecond = updates / ((performance.now() - start) / 1000);
    start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < updates) {
          const n = next++;
          await call('sendMessage', { chat_id: 900_000 + (n % chats), text: `reply ${n}`, parse_mode: 'HTML' });
        }
      }),
    );
    return { updatesPerSecond, sendsPerSecond: updates / ((performance.now() - start) / 1000) };
  } finally {
    await dispatcher.close();
    await fake.stop();
  }
}

async function polling(pincer: Pincer): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (pincer.channels.list()[0]?.state !== 'polling') {
    if (Date.now() > deadline) throw new Error('the Telegram account did not start polling');
    await sleep(5);
  }
}

export async function telegramThroughput(dirs: [string, string], updates = 3000, chats = 300): Promise<ChannelFigures> {
  const reference = await fakeCapacity(updates, chats);
  const fake = new TelegramFake({ limits: false });
  await fake.start();
  try {
    const env = (dir: string) => ({ PINCER_DATA_DIR: dir, PINCER_PORT: '0', PINCER_LOG_LEVEL: 'warn', PINCER_PLUGINS_ENABLED: 'commands', PINCER_LOG_ACCESS: 'false' });
    // Inbound alone: an API-only node takes a burst in (poll, policy, commit, confirm); nothing is answered.
    const apiOnly = await Pincer.create({ config: loadConfig({ cwd: dirs[0], env: { ...env(dirs[0]), PINCER_WORKERS_ENABLED: 'false' }, overrides: { channels: channelsConfig(fake) } }).config });
    await apiOnly.start();
    await polling(apiOnly);
    const t0 = performance.now();
    push(fake, updates, chats, 0);
    await until(() => fake.pendingUpdates.length === 0, 120_000);
    const inboundSeconds = (performance.now() - t0) / 1000;
    await apiOnly.close();

    // End to end: a node with workers answers a burst; every reply goes out through the outbox.
    const node = await Pincer.create({ config: loadConfig({ cwd: dirs[1], env: env(dirs[1]), overrides: { channels: channelsConfig(fake) } }).config });
    await node.start();
    await polling(node);
    const before = fake.sent().length;
    const t1 = performance.now();
    push(fake, updates, chats, chats);
    await until(() => fake.sent().length >= before + updates, 180_000);
    const outboundSeconds = (performance.now() - t1) / 1000;
    await node.close();
    return {
      updates,
      chats,
      inboundPerSecond: updates / inboundSeconds,
      deliveriesPerSecond: updates / outboundSeconds,
      fakeUpdatesPerSecond: reference.updatesPerSecond,
      fakeSendsPerSecond: reference.sendsPerSecond,
    };
  } finally {
    await fake.stop();
  }
}
