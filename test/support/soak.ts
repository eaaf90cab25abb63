/**
 * What the single-node channel soaks (test/channels/*-soak.test.ts) share: a Pincer node on
 * SQLite that is SIGKILLed and started again in the same data directory and port, its config
 * with the soak's queue and lease settings, and the wait for it to have nothing left to do.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JsonObject } from '../../src/json.js';
import { eventually, getJson, tempDir } from './index.js';
import { freePort, spawnPincer, type PincerProcess } from './process.js';

export class SoakNode {
  process: PincerProcess | undefined;
  private readonly env: Record<string, string>;

  private constructor(
    readonly dir: string,
    port: number,
  ) {
    this.env = { PINCER_DATA_DIR: dir, PINCER_PORT: String(port) };
  }

  /** A node whose config carries `channels` (one platform's section) under the soak's settings. */
  static async create(prefix: string, channels: JsonObject): Promise<{ node: SoakNode; cleanup: () => void }> {
    const { dir, cleanup } = tempDir(prefix);
    const config = {
      plugins: { enabled: ['commands'] },
      log: { access: false },
      // Kills every second or so use up attempts of the messages in flight far faster than any
      // crash loop would (the queue's poison-pill rule: five and a message is dead).
      queue: { max_attempts: 30 },
      // Short leases so a killed node's deliveries and poller are taken over within seconds.
      channels: { defaults: { delivery: { lease: '4s' }, poller_lease: '3s' }, ...channels },
    };
    writeFileSync(path.join(dir, 'pincer.config.json'), JSON.stringify(config));
    return { node: new SoakNode(dir, await freePort()), cleanup };
  }

  get url(): string {
    if (!this.process) throw new Error('the soak node is not running');
    return this.process.url;
  }

  async start(): Promise<void> {
    this.process = await spawnPincer(this.env, this.dir);
  }

  async kill(): Promise<void> {
    const running = this.process;
    if (!running) return;
    running.child.kill('SIGKILL');
    await running.exited;
    this.process = undefined;
  }

  /** No message waiting or in work, no delivery waiting, sending or failed. */
  async idle(): Promise<void> {
    await eventually(
      async () => {
        const queue = (await getJson(`${this.url}/v1/admin/queue/stats`)).body.queue as { depth: number };
        const list = (await getJson(`${this.url}/v1/admin/channels`)).body.accounts as Array<{ deliveries: Record<string, number> }>;
        const d = list[0]?.deliveries ?? {};
        return queue.depth + (d.queued ?? 0) + (d.sending ?? 0) + (d.failed ?? 0);
      },
      (left) => left === 0,
      60_000,
      'the queue and the outbox to be idle',
    );
  }

  /** The deliveries held as ambiguous, and how many messages the queue gave up on. */
  async outcome(): Promise<{ ambiguous: Array<{ text: string }>; deadMessages: number }> {
    const ambiguous = (await getJson(`${this.url}/v1/admin/channels/deliveries?state=ambiguous&limit=500`)).body.deliveries as Array<{ text: string }>;
    const deadMessages = (await getJson(`${this.url}/v1/admin/queue/stats`)).body.queue.byState.dead as number;
    return { ambiguous, deadMessages };
  }
}
