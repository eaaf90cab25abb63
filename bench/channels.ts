/**
 * Channels through each platform's fake (the test suite's, speaking the real wire protocol, with
 * the real plugin and its library unmodified): how fast a burst of user messages is taken in
 * (received, decided, committed), and how fast replies go out end to end (message -> turn by the
 * test responder -> outbox -> the platform's send call). Each figure has a reference measured in
 * the same run: the same fake serving the same calls to a bare client of its protocol.
 *
 * One loop over per-channel adapters (channels-polled.ts, channels-posted.ts); users are the
 * conformance drivers' (test/channels/drivers*.ts), so the bench says what a user says.
 */
import type { JsonObject } from '../src/json.js';
import type { ChannelDriver } from '../test/channels/drivers.js';
import { accountReady, startChannelPincer } from '../test/support/channels.js';
import type { RunningPincer } from '../test/support/index.js';
import { inFlight, POSTED_IN_FLIGHT, sink } from './channels-reference.js';

/** A started fake with its driver, for one phase of one channel. */
export interface BenchFake {
  readonly driver: ChannelDriver;
  /** Bot messages the platform accepted so far: probed every few milliseconds, so cheap. */
  delivered(): number;
  /**
   * The fake alone handing `count` messages (made by `push`, as Pincer's are) to a bare client of
   * its protocol (getUpdates, gateway, /sync, Socket Mode); seconds from the first message to
   * the last taken. Posted channels need none: their reference is the same POSTs to a server
   * that answers 200.
   */
  inboundAlone?(push: () => Promise<unknown>, count: number): Promise<number>;
  /** The fake taking `count` sends to these users from a bare client, 16 in flight; seconds. */
  sendsAlone(users: readonly string[], count: number): Promise<number>;
}

export interface ChannelBench {
  label: string;
  /** How events reach Pincer and what answers go out as, for the rows. */
  inboundHow: string;
  sendHow: string;
  /**
   * burst: the platform holds the events and the bot takes them (poll, gateway, socket), so they
   * are all pushed at once; posted: the platform POSTs each one, 16 in flight.
   */
  push: 'burst' | 'posted';
  /** Account keys besides dm_policy: Pincer's own configurable pacing lifted (see each adapter). */
  account?: JsonObject;
  /** Pincer paces this platform's sends with a fixed global bucket (sends/s): the figure is that pace. */
  pacedAt?: number;
  /** A new fake (not started) and its driver. */
  open(): BenchFake;
}

export interface ChannelFigures {
  label: string;
  inboundHow: string;
  sendHow: string;
  messages: number;
  conversations: number;
  deliveries: number;
  inboundPerSecond: number;
  /** Inbound POSTs Pincer answered non-2xx (posted channels); those events are not waited for. */
  refused: number;
  fakeInboundPerSecond: number;
  deliveriesPerSecond: number;
  fakeSendsPerSecond: number;
  pacedAt: number | undefined;
}

const MESSAGES = Number(process.env.BENCH_CHANNEL_MESSAGES ?? 1500);
/**
 * Two messages a conversation: the fakes enforce the platforms' per-conversation limits (Slack
 * about 1 post/s per channel with a burst of 4, Discord 5 per 5 s per channel) and Pincer paces
 * itself to them (Slack 3 per 3 s, Matrix 5/s a room, WhatsApp 10/min a user), so spreading the
 * load over many conversations keeps every run under them and measures Pincer, not the limits.
 */
const PER_CONVERSATION = 2;
/** Seconds of sends a paced channel's end-to-end run takes. */
const PACED_SECONDS = 3;

const text = (i: number): string => `bench message ${i}`;

async function until(probe: () => number | Promise<number>, target: number, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = await probe();
  while (seen < target) {
    if (Date.now() > deadline) throw new Error(`the channel benchmark: ${what} reached ${seen} of ${target} in ${timeoutMs / 1000} s`);
    // Some fakes' views are scans of all they hold: looking much more often would be the bottleneck.
    await new Promise((resolve) => setTimeout(resolve, 20));
    seen = await probe();
  }
}

function usersOf(fake: BenchFake, count: number): string[] {
  return Array.from({ length: count }, (_, i) => fake.driver.user(i + 1));
}

/** Push `count` messages over `users` the way the platform would; resolves once all were handed over, with the refused count. */
async function say(bench: ChannelBench, fake: BenchFake, users: readonly string[], count: number): Promise<number> {
  let refused = 0;
  const one = async (i: number): Promise<void> => {
    const inbound = await fake.driver.say(users[i % users.length]!, text(i));
    if (inbound.status !== undefined && (inbound.status < 200 || inbound.status > 299)) refused++;
  };
  if (bench.push === 'burst') for (let i = 0; i < count; i++) await one(i);
  else await inFlight(count, POSTED_IN_FLIGHT, one);
  return refused;
}

async function withFake<T>(bench: ChannelBench, run: (fake: BenchFake) => Promise<T>): Promise<T> {
  const fake = bench.open();
  await fake.driver.start();
  try {
    return await run(fake);
  } finally {
    await fake.driver.stop();
  }
}

async function withPincer<T>(bench: ChannelBench, fake: BenchFake, workers: boolean, run: (p: RunningPincer) => Promise<T>): Promise<T> {
  const channels = { defaults: { delivery: { concurrency: 16 } }, ...fake.driver.channels({ dm_policy: 'open', ...bench.account }) };
  const env: Record<string, string> = { PINCER_LOG_LEVEL: 'warn', ...(workers ? {} : { PINCER_WORKERS_ENABLED: 'false' }) };
  const running = await startChannelPincer({ channels, env });
  try {
    fake.driver.attach(running.url);
    await accountReady(running.pincer, fake.driver.channel);
    return await run(running);
  } finally {
    await running.close();
  }
}

const seconds = (since: number): number => (performance.now() - since) / 1000;

async function measure(bench: ChannelBench): Promise<ChannelFigures> {
  const messages = MESSAGES;
  const conversations = Math.ceil(messages / PER_CONVERSATION);
  const deliveries = bench.pacedAt === undefined ? messages : bench.pacedAt * PACED_SECONDS;
  const fakeInbound = await withFake(bench, async (fake) => {
    const users = usersOf(fake, conversations);
    if (fake.inboundAlone) return fake.inboundAlone(() => say(bench, fake, users, messages), messages);
    // A posted channel's reference: the same signed POSTs from the same client to a server that only answers 200.
    const target = await sink();
    try {
      fake.driver.attach(target.url);
      const t = performance.now();
      await say(bench, fake, users, messages);
      return seconds(t);
    } finally {
      await target.close();
    }
  });
  const fakeSends = await withFake(bench, (fake) => fake.sendsAlone(usersOf(fake, conversations), messages));

  // Inbound alone: an API-only node takes the burst in; nothing is answered.
  const inbound = await withFake(bench, (fake) => {
    const users = usersOf(fake, conversations);
    return withPincer(bench, fake, false, async ({ pincer }) => {
      const t = performance.now();
      const refused = await say(bench, fake, users, messages);
      await until(async () => (await pincer.store.admin.stats()).enqueued, messages - refused, `${bench.label} messages committed`);
      return { seconds: seconds(t), refused };
    });
  });

  // End to end: a node with workers answers every message; each reply goes out through the outbox.
  const outbound = await withFake(bench, (fake) => {
    const users = usersOf(fake, Math.ceil(deliveries / PER_CONVERSATION));
    return withPincer(bench, fake, true, async () => {
      const t = performance.now();
      const refused = await say(bench, fake, users, deliveries);
      await until(() => fake.delivered(), deliveries - refused, `${bench.label} replies delivered`);
      return seconds(t);
    });
  });

  return {
    label: bench.label,
    inboundHow: bench.inboundHow,
    sendHow: bench.sendHow,
    messages,
    conversations,
    deliveries,
    inboundPerSecond: messages / inbound.seconds,
    refused: inbound.refused,
    fakeInboundPerSecond: messages / fakeInbound,
    deliveriesPerSecond: deliveries / outbound,
    fakeSendsPerSecond: messages / fakeSends,
    pacedAt: bench.pacedAt,
  };
}

/** Every channel with a fake, one after the other (each run is a few seconds). */
export async function channelThroughput(benches: readonly ChannelBench[]): Promise<ChannelFigures[]> {
  const figures: ChannelFigures[] = [];
  for (const bench of benches) figures.push(await measure(bench));
  return figures;
}
