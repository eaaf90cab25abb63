/**
 * The channel soak for Discord: Pincer on one SQLite node is SIGKILLed 20 times while the
 * Discord fake's gateway dispatches users' messages in many DM channels. Discord sends carry a
 * nonce with enforce_nonce, so a send cut by a kill is sent again and Discord answers it with
 * the message it already made: every message is answered by exactly one visible message, none
 * is held as ambiguous, and each channel's answers keep its order.
 *
 * What "no gateway event missed" rests on: a restarted node RESUMEs the stored session at its
 * last committed sequence and the fake replays every dispatch after it, including those that
 * went to the killed process's socket but were never committed. A fresh IDENTIFY would lose
 * exactly those (Discord does not replay into a new session), so the test also counts the
 * IDENTIFYs: events dispatched while no client held a session are queued by the fake for the
 * next session either way, which is what a live gateway cannot do, and is not what is checked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DiscordFake, type FakeChannel, type FakeDiscordUser } from '../support/fakes/discord.js';
import { eventually } from '../support/index.js';
import { SoakNode } from '../support/soak.js';

describe('discord under SIGKILL', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('one node on SQLite, killed 20 times: every message answered by one visible message, in order', async () => {
    const kills = 20;
    const total = 400;
    // The per-channel rate limit is the conformance suite's concern; here it would only slow
    // the soak past its budget.
    const fake = new DiscordFake({ heartbeatIntervalMs: 300, channelLimit: false });
    await fake.start();
    const { node, cleanup } = await SoakNode.create('pincer-discord-soak-', {
      discord: { api_root: fake.url, accounts: { default: { token: fake.token, dm_policy: 'open', streaming: 'off' } } },
    });
    cleanups.push(() => fake.stop(), cleanup, () => node.kill());
    await node.start();

    const people: Array<{ user: FakeDiscordUser; channel: FakeChannel }> = Array.from({ length: 20 }, (_, i) => {
      const user = fake.user(100 + i, `soak${i}`);
      return { user, channel: fake.dm(user) };
    });
    const texts: Array<{ channel: string; text: string }> = [];
    const replies = (): number => people.reduce((n, p) => n + fake.sentIn(p.channel.id).length, 0);
    let pushed = 0;
    // A steady stream across the kills (the outside world's pace, hence a timer): the gateway
    // keeps a session's dispatches for RESUME while no client holds it.
    const pushing = (async () => {
      while (pushed < total) {
        const p = people[pushed % people.length]!;
        const text = `m${pushed}`;
        fake.post(p.channel, p.user, `/echo ${text}`);
        texts.push({ channel: p.channel.id, text });
        pushed++;
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const takeUps = (): number => fake.gateway.count(2) + fake.gateway.count(6);
    for (let k = 0; k < kills; k++) {
      // Each kill lands once the new process holds the gateway session (it has sent its
      // IDENTIFY or RESUME) and has answered more messages, so dispatches are in flight to it.
      const before = k === 0 ? 0 : takeUps();
      const target = replies() + 1 + Math.floor(Math.random() * 12);
      await eventually(() => ({ n: replies(), up: takeUps() }), ({ n, up }) => up > before && (n >= target || n >= total), 60_000, `the session taken up and replies before kill ${k + 1}`);
      await node.kill();
      await node.start();
    }
    await pushing;
    // The last process takes the session up too (its answers may all come from the outbox).
    await eventually(() => takeUps(), (n) => n > kills, 30_000, 'the last process to take the session up');
    await eventually(() => replies(), (n) => n >= total, 60_000, 'a reply to every message');
    await node.idle();

    // Visible messages per source message: what a user would see in the channel.
    const counts = new Map<string, number>();
    for (const p of people) for (const m of fake.sentIn(p.channel.id)) counts.set(m.content, (counts.get(m.content) ?? 0) + 1);
    const { ambiguous, deadMessages } = await node.outcome();
    // A create whose nonce an earlier create already used: Discord answered it with the first
    // message instead of posting again (a resend after a kill).
    const seen = new Set<string>();
    let absorbed = 0;
    for (const call of fake.calls) {
      const nonce = call.method === 'POST' && call.path.endsWith('/messages') ? call.body?.['nonce'] : undefined;
      if (typeof nonce !== 'string') continue;
      if (seen.has(nonce)) absorbed++;
      seen.add(nonce);
    }
    const identifies = fake.gateway.count(2);
    const resumes = fake.gateway.count(6);

    expect(counts.size).toBe(total);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    expect(texts.filter((t) => !counts.has(t.text))).toEqual([]);
    expect(ambiguous).toEqual([]);
    expect(deadMessages).toBe(0);
    for (const p of people) {
      const order = fake.sentIn(p.channel.id).map((m) => Number(m.content.slice(1)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    // Every restart took the session up again: one IDENTIFY, the first; the rest RESUMEs.
    expect(identifies).toBe(1);
    expect(resumes).toBe(kills);
    console.log(
      `discord soak (SQLite): ${total} messages in ${people.length} channels, ${kills} kills, each answered by one visible message; ` +
        `${absorbed} resends absorbed by the nonce; ${identifies} IDENTIFY and ${resumes} RESUMEs, no gateway event missed across restarts`,
    );
  }, 120_000);
});
