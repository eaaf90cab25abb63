/**
 * Shared fixtures for channel tests: a Pincer with a `channels:` section (its channel plugins
 * are the bundled ones, in their threads), a deterministic responder, and drivers that speak
 * to each platform's fake the way a user on that platform would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/load.js';
import type { JsonObject } from '../../src/json.js';
import { Pincer } from '../../src/pincer.js';
import type { Responder } from '../../src/pipeline/types.js';
import type { DeliveryRecord, DeliveryState } from '../../src/store/types.js';
import { eventually, hermeticEnv, LogCapture, tempDir, type RunningPincer } from './index.js';

/**
 * What the test bot answers, by the text it gets (after the commands plugin, which answers
 * "/echo x" with "x"):
 * - `long:<n>`: n characters of Markdown with a code block in the middle;
 * - `stream:<n>:<ms>`: a reply streamed in n pieces, one every `ms` (the model writing);
 * - anything else: `re: <text>`.
 */
export const testResponder: Responder = {
  name: 'test-bot',
  order: 50,
  async respond(ctx) {
    const text = ctx.message.text;
    const long = /^long:(\d+)$/.exec(text);
    if (long) return { text: longMarkdown(Number(long[1])) };
    const stream = /^stream:(\d+):(\d+)$/.exec(text);
    if (stream) {
      const pieces = Number(stream[1]);
      let reply = '';
      for (let i = 0; i < pieces; i++) {
        const piece = `word${i} `.repeat(8);
        reply += piece;
        ctx.stream(piece);
        // The fake model takes its time writing; nothing waits on this.
        await sleep(Number(stream[2]), undefined, { signal: ctx.signal });
      }
      return { text: reply.trim() };
    }
    return { text: `re: ${text}` };
  },
};

/** Paragraphs, then a fenced code block, then more paragraphs, `n` characters in all. */
export function longMarkdown(n: number): string {
  const para = (i: number) => `Paragraph ${i} says *something* useful about [a link](https://example.com/${i}) and more words to fill the line.`;
  const parts: string[] = [];
  let i = 0;
  while (parts.join('\n\n').length < n / 2) parts.push(para(i++));
  parts.push('```js\n' + Array.from({ length: 80 }, (_, k) => `const value${k} = compute(${k}) < limit && ready;`).join('\n') + '\n```');
  while (parts.join('\n\n').length < n) parts.push(para(i++));
  return parts.join('\n\n').slice(0, n);
}

export interface ChannelPincerOptions {
  channels: JsonObject;
  env?: Record<string, string>;
  /** A directory to reuse (a restart), else a new temp one. */
  dir?: string;
  setup?: (pincer: Pincer) => void;
}

/** A started Pincer with the given `channels:` section, the commands plugin and the test responder. */
export async function startChannelPincer(options: ChannelPincerOptions): Promise<RunningPincer> {
  const temp = options.dir ? undefined : tempDir('pincer-channels-');
  const dir = options.dir ?? (temp as { dir: string }).dir;
  const env = { PINCER_DATA_DIR: dir, PINCER_PORT: '0', PINCER_PLUGINS_ENABLED: 'commands', PINCER_LOG_ACCESS: 'false', ...options.env };
  const { config } = loadConfig({ cwd: dir, env, overrides: { channels: options.channels } });
  const logs = new LogCapture();
  const pincer = await Pincer.create({ config, logDestination: logs, env: { ...hermeticEnv(), ...env } });
  pincer.registry.addResponder(testResponder);
  options.setup?.(pincer);
  const url = await pincer.start();
  return {
    pincer,
    url,
    logs,
    dataDir: dir,
    close: async () => {
      await pincer.close();
      temp?.cleanup();
    },
  };
}

/** Deliveries of a channel in one state, oldest first. */
export async function deliveriesIn(pincer: Pincer, state: DeliveryState, channel?: string): Promise<DeliveryRecord[]> {
  const rows = await pincer.store.channels.listDeliveries({ state, limit: 500, ...(channel ? { channel } : {}) });
  return rows.reverse();
}

/** Wait until the channel's account has started its transport (polling, or webhook registered). */
export async function accountReady(pincer: Pincer, channel: string, account = 'default'): Promise<void> {
  await eventually(
    () => pincer.channels.list().find((s) => s.channel === channel && s.account === account)?.state,
    (state) => state === 'polling' || state === 'webhook',
    20_000,
    `${channel}/${account} to start`,
  );
}
