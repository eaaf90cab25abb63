/**
 * What every channel must do, run against each channel's fake platform with its real plugin
 * in its thread (as the store conformance suite runs against each backend): ack only after
 * the commit, one message per redelivered event, order within a conversation, 429 waits,
 * error classes, chunking, pairing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import { deliveriesIn, startChannelPincer } from '../support/channels.js';
import { eventually, getJson, postJson, tempDir, type RunningPincer } from '../support/index.js';
import type { ChannelDriver } from './drivers.js';

const OPEN: JsonObject = { dm_policy: 'open' };

export function channelConformance(makeDriver: () => ChannelDriver): void {
  const driver = makeDriver();
  let running: RunningPincer | undefined;

  beforeAll(() => driver.start());
  afterAll(() => driver.stop());
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  async function boot(policy: JsonObject = OPEN, env: Record<string, string> = {}, dir?: string): Promise<RunningPincer> {
    running = await startChannelPincer({ channels: driver.channels(policy), env, ...(dir ? { dir } : {}) });
    driver.attach(running.url);
    await eventually(() => running?.pincer.channels.list()[0]?.state, (s) => s === 'polling' || s === 'webhook', 20_000, `${driver.channel} to start`);
    return running;
  }

  const repliesOf = (user: string, count: number, what: string) => eventually(() => driver.replies(user), (r) => r.length >= count, 20_000, what);
  /** The outbox has nothing left to do: every delivery ended (sent, dead or held). */
  const outboxIdle = (p: RunningPincer) => eventually(async () => (await deliveriesIn(p.pincer, 'queued')).length + (await deliveriesIn(p.pincer, 'sending')).length + (await deliveriesIn(p.pincer, 'failed')).length, (n) => n === 0, 20_000, 'the outbox to drain');

  describe(`channel conformance: ${driver.channel}`, () => {
    it('answers a direct message once, in its conversation', async () => {
      const p = await boot();
      const user = driver.user(1);
      await driver.say(user, 'hello there');
      expect(await repliesOf(user, 1, 'the reply')).toEqual(['re: hello there']);
      const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(driver.conversationId(user))}`);
      expect(conversation.body.messages).toEqual([expect.objectContaining({ text: 'hello there', channel: driver.channel, sender: `${driver.channel}:${user}`, status: 'done' })]);
      await outboxIdle(p);
      expect(await deliveriesIn(p.pincer, 'sent', driver.channel)).toHaveLength(1);
    });

    it('acknowledges an event only once it is committed: a refused event stays with the platform and is answered after a restart', async () => {
      const { dir, cleanup } = tempDir('pincer-ack-');
      try {
        // No workers and room for one message: the second event cannot be committed.
        await boot(OPEN, { PINCER_WORKERS_ENABLED: 'false', PINCER_QUEUE_MAX_LENGTH: '1', PINCER_QUEUE_MAX_LENGTH_CAP: '1' }, dir);
        const [a, b] = [driver.user(2), driver.user(3)];
        const first = await driver.say(a, 'first');
        await eventually(() => driver.acked(first), Boolean, 10_000, 'the first event to be acked');
        const second = await driver.say(b, 'second');
        // The store refused it (queue full), so the platform still holds it: the poll offset
        // did not move past it, or the webhook was answered with an error.
        await eventually(async () => (await running!.pincer.store.admin.stats()).rejected, (n) => n > 0, 10_000, 'the refusal');
        expect(driver.acked(second)).toBe(false);
        await running!.close();
        running = undefined;

        await boot(OPEN, {}, dir);
        if (!driver.acked(second)) await driver.resend(second); // a webhook platform retries; a poller finds it still pending
        expect(await repliesOf(a, 1, 'the first reply')).toEqual(['re: first']);
        expect(await repliesOf(b, 1, 'the second reply')).toEqual(['re: second']);
      } finally {
        cleanup();
      }
    });

    it('turns a redelivered event into the message it already is', async () => {
      const p = await boot();
      const user = driver.user(4);
      const event = await driver.say(user, 'only once');
      await repliesOf(user, 1, 'the reply');
      const again = await driver.resend(event);
      await eventually(() => driver.acked(again), Boolean, 10_000, 'the redelivery to be acked');
      await outboxIdle(p);
      expect(driver.replies(user)).toEqual(['re: only once']);
      const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(driver.conversationId(user))}`);
      expect(conversation.body.messages).toHaveLength(1);
    });

    it('answers a conversation in order', async () => {
      await boot();
      const user = driver.user(5);
      for (let i = 1; i <= 5; i++) await driver.say(user, `number ${i}`);
      expect(await repliesOf(user, 5, 'five replies')).toEqual([1, 2, 3, 4, 5].map((i) => `re: number ${i}`));
    });

    it('waits out a 429 without using an attempt, and delivers', async () => {
      const p = await boot();
      const user = driver.user(6);
      driver.fault('rate_limit');
      const before = Date.now();
      await driver.say(user, 'slow down');
      expect(await repliesOf(user, 1, 'the reply after the wait')).toEqual(['re: slow down']);
      // retry_after was 2 s: the platform was not asked again before then.
      expect(Date.now() - before).toBeGreaterThanOrEqual(2_000);
      await outboxIdle(p);
      const [sent] = await deliveriesIn(p.pincer, 'sent', driver.channel);
      expect(sent).toMatchObject({ attempts: 1, rateLimited: 1 });
    });

    it('sends a permanent failure to the dead deliveries with its reason', async () => {
      const p = await boot();
      const user = driver.user(7);
      driver.fault('permanent');
      await driver.say(user, 'nobody home');
      const dead = await eventually(() => deliveriesIn(p.pincer, 'dead', driver.channel), (d) => d.length === 1, 20_000, 'a dead delivery');
      expect(dead[0]).toMatchObject({ errorClass: 'permanent', lastError: expect.any(String) });
      expect(driver.replies(user)).toEqual([]);
    });

    it('a send the platform may have got is held where the platform cannot dedupe, and resent where it can', async () => {
      const p = await boot();
      const user = driver.user(8);
      driver.fault('dropped');
      await driver.say(user, 'did it arrive');
      if (driver.ambiguous === 'held') {
        const held = await eventually(() => deliveriesIn(p.pincer, 'ambiguous', driver.channel), (d) => d.length === 1, 20_000, 'an ambiguous delivery');
        expect(driver.sendCalls(user)).toBe(1);
        // The operator decides: a retry sends it again.
        const retried = await postJson(`${p.url}/v1/admin/channels/deliveries/${held[0]!.id}/retry`, {});
        expect(retried.status).toBe(200);
        await eventually(() => deliveriesIn(p.pincer, 'sent', driver.channel), (d) => d.length === 1, 20_000, 'the retried delivery');
        expect(driver.sendCalls(user)).toBe(2);
      } else if (driver.ambiguous === 'reconciled') {
        // The platform said the first attempt arrived: nothing is sent again.
        const [sent] = await eventually(() => deliveriesIn(p.pincer, 'sent', driver.channel), (d) => d.length === 1, 30_000, 'the reconciled delivery');
        expect(sent?.attempts).toBe(2);
        expect(driver.replies(user)).toEqual(['re: did it arrive']);
        expect(driver.sendCalls(user)).toBe(1);
      } else {
        await eventually(() => deliveriesIn(p.pincer, 'sent', driver.channel), (d) => d.length === 1, 30_000, 'the resent delivery');
        expect(driver.replies(user)).toEqual(['re: did it arrive']);
        expect(driver.sendCalls(user)).toBeGreaterThanOrEqual(2);
      }
    });

    it("treats a server error as the platform's dedupe allows", async () => {
      const p = await boot();
      const user = driver.user(9);
      driver.fault('server_error');
      await driver.say(user, 'server trouble');
      if (driver.serverError === 'ambiguous') {
        await eventually(() => deliveriesIn(p.pincer, 'ambiguous', driver.channel), (d) => d.length === 1, 20_000, 'an ambiguous delivery');
        expect(driver.replies(user)).toEqual([]);
      } else {
        // The first retry waits 5 s (RETRY_DELAYS_MS).
        expect(await eventually(() => driver.replies(user), (r) => r.length === 1, 30_000, 'the retried reply')).toEqual(['re: server trouble']);
        const [sent] = await eventually(() => deliveriesIn(p.pincer, 'sent', driver.channel), (d) => d.length === 1, 10_000, 'the delivery recorded as sent');
        expect(sent?.attempts).toBe(2);
      }
    });

    it('splits a long reply into parts within the limit, in order', async () => {
      const p = await boot();
      const user = driver.user(10);
      // Long enough for a code block and paragraphs after it whatever the limit (Discord's is 2,000).
      const length = Math.min(Math.max(driver.textLimit * 2 + 500, 8_000), 70_000);
      await driver.say(user, `long:${length}`);
      await eventually(() => deliveriesIn(p.pincer, 'sent', driver.channel), (d) => d.length === 1, 20_000, 'the long reply');
      const parts = driver.replies(user);
      expect(parts.length).toBeGreaterThanOrEqual(3);
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(driver.textLimit);
      expect(parts.join('')).toContain('Paragraph 0 says');
      expect(parts.at(-1)).toMatch(/Paragraph \d+ says/);
    });

    it('asks an unknown sender to pair, and answers once the operator approves', async () => {
      const p = await boot({ dm_policy: 'pairing' });
      const user = driver.user(11);
      await driver.say(user, 'let me in');
      const [pairing] = await repliesOf(user, 1, 'the pairing code');
      const code = /\*\*([A-Z2-9]{8})\*\*|<b>([A-Z2-9]{8})<\/b>|([A-HJ-NP-Z2-9]{8})/.exec(pairing ?? '')?.slice(1).find(Boolean);
      expect(code).toMatch(/^[A-HJ-NP-Z2-9]{8}$/);
      const second = await driver.say(user, 'still here');
      await eventually(() => driver.acked(second), Boolean, 10_000, 'the second message to be taken');
      await outboxIdle(p);
      // A second message within the hour gets no second code, and neither is answered.
      expect(driver.replies(user)).toHaveLength(1);
      const listed = await getJson(`${p.url}/v1/admin/channels/pairing`);
      expect(listed.body.requests).toEqual([expect.objectContaining({ channel: driver.channel, senderId: user, code })]);
      const approved = await postJson(`${p.url}/v1/admin/channels/pairing/${driver.channel}/${code}/approve`, {});
      expect(approved.status).toBe(200);
      await driver.say(user, 'now?');
      expect(await repliesOf(user, 2, 'the answer after approval')).toEqual([pairing, 're: now?']);
    });
  });
}
