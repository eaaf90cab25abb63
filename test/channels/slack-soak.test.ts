/**
 * The channel soak for Slack: Pincer on one SQLite node is SIGKILLed 20 times while users
 * write in many DMs, over Socket Mode and over the Events API.
 * - Socket Mode: an envelope is acked only after its commit, and Slack sends an unacked one
 *   again on the next socket, so a kill loses none.
 * - Events API: a POST is answered 2xx only after its commit; the fake retries an unanswered
 *   one as Slack does, three times. Slack's retries come after 1 and 5 minutes, longer than
 *   any restart; scaled into a 20-kill soak they are not (the node is down most of the time),
 *   so an event whose every attempt found the node down is given up by the fake, as Slack
 *   would give it up, and is checked to have never had a 2xx.
 * A post cut by a kill is left `sending`, and the next process asks the conversation's history
 * for the post's metadata stamp before it sends again: every message taken is answered by
 * exactly one visible post, in the order Pincer took it, and none is held as ambiguous.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { EventDelivery, Envelope } from '../support/fakes/slack-events.js';
import { SlackFake, type SlackConversation, type SlackUser } from '../support/fakes/slack.js';
import { eventually, getJson } from '../support/index.js';
import { SoakNode } from '../support/soak.js';

const isEnvelope = (sent: EventDelivery | Envelope): sent is Envelope => 'envelope_id' in sent;

describe('slack under SIGKILL', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  for (const transport of ['socket', 'webhook'] as const) {
    it(`one node on SQLite, killed 20 times (${transport === 'socket' ? 'Socket Mode' : 'Events API'}): every message taken answered by one visible post, in order`, async () => {
      const kills = 20;
      const total = 400;
      // The fake's per-channel limit is the conformance suite's concern: off here, so the soak
      // measures kills, not Slack's pace (Pincer still keeps its own per-channel bucket).
      const fake = new SlackFake({ burst: 1_000, events: { retryMs: 10_000 }, socket: { ackTimeoutMs: 2_000 } });
      fake.transport = transport;
      await fake.start();
      const account = { token: fake.botToken, signing_secret: fake.signingSecret, app_token: fake.appToken, transport: transport === 'socket' ? 'polling' : 'webhook', dm_policy: 'open', streaming: 'off' };
      const { node, cleanup } = await SoakNode.create('pincer-slack-soak-', { slack: { api_root: fake.url, accounts: { default: account } } });
      cleanups.push(() => fake.stop(), cleanup, () => node.kill());
      await node.start();
      fake.webhookUrl = `${node.url}/v1/channels/slack/default/webhook`;

      const people: Array<{ user: SlackUser; dm: SlackConversation }> = Array.from({ length: 40 }, (_, i) => {
        const user = fake.world.user(500 + i);
        return { user, dm: fake.world.dm(user) };
      });
      const replies = (): number => people.reduce((n, p) => n + fake.botMessages(p.dm.id).length, 0);
      const sent: Array<Promise<EventDelivery | Envelope>> = [];
      let pushed = 0;
      // A steady stream across the kills (the outside world's pace, hence a timer).
      const pushing = (async () => {
        while (pushed < total) {
          const p = people[pushed % people.length]!;
          sent.push(...fake.say(p.user, p.dm, `/echo m${pushed}`).sent);
          pushed++;
          await new Promise((r) => setTimeout(r, 40));
        }
      })();
      for (let k = 0; k < kills; k++) {
        const target = replies() + 1 + Math.floor(Math.random() * 12);
        await eventually(() => replies(), (n) => n >= target || n >= total, 60_000, `replies before kill ${k + 1}`);
        await node.kill();
        await node.start();
      }
      await pushing;
      const events = await Promise.all(sent);
      const textOf = (e: EventDelivery | Envelope): string => ((isEnvelope(e) ? e.payload : JSON.parse(e.body)) as { event: { text: string } }).event.text.replace(/^\/echo /, '');
      let dropped: EventDelivery[] = [];
      if (transport === 'socket') {
        // Slack keeps an unacked envelope for the next socket: every one is acked in the end.
        await eventually(() => events.filter((e) => isEnvelope(e) && !e.acked).length, (n) => n === 0, 60_000, 'every envelope acked');
      } else {
        dropped = events.filter((e): e is EventDelivery => !isEnvelope(e) && !e.acked);
        // Given up by the fake: the node was down (or still starting) at every attempt, and
        // Pincer never said 2xx to it.
        for (const d of dropped) expect(d.attempts.every((a) => a.status === 'error' || a.status === 503)).toBe(true);
      }
      const answerable = new Set(events.filter((e) => e.acked).map(textOf));
      await eventually(() => replies(), (n) => n >= answerable.size, 60_000, 'a reply to every message Pincer took');
      await node.idle();

      const counts = new Map<string, number>();
      for (const p of people) for (const m of fake.botMessages(p.dm.id)) counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
      const { ambiguous, deadMessages } = await node.outcome();
      const again = events.filter((e) => (isEnvelope(e) ? e.sends > 1 : e.attempts.length > 1)).length;
      const lookups = fake.calls.filter((c) => c.method === 'conversations.history').length;
      const posts = fake.calls.filter((c) => c.method === 'chat.postMessage' && c.outcome === 'ok').length;

      expect([...answerable].filter((text) => !counts.has(text))).toEqual([]);
      expect(counts.size).toBe(answerable.size);
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      expect(ambiguous).toEqual([]);
      expect(deadMessages).toBe(0);
      expect(posts).toBe(answerable.size);
      // Slack does not keep a user's events in order across its retries (an event retried later
      // is committed after the next one): the answers keep the order Pincer took them in.
      for (const p of people) {
        const taken = (await getJson(`${node.url}/v1/conversations/${encodeURIComponent(`slack:default:${p.dm.id}`)}?limit=100`)).body.messages as Array<{ text: string }>;
        expect(fake.botMessages(p.dm.id).map((m) => m.text)).toEqual(taken.map((m) => m.text.replace(/^\/echo /, '')));
      }
      console.log(
        `slack soak (SQLite, ${transport === 'socket' ? 'Socket Mode' : 'Events API'}): ${total} messages in ${people.length} DMs, ${kills} kills; ` +
          `${answerable.size} taken, each answered by one visible post; ${again} delivered again by the fake, ${dropped.length} given up with the node down at every attempt; ` +
          `${lookups} history lookups for posts a kill may have cut`,
      );
    }, 240_000);
  }
});
