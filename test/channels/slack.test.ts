/**
 * Slack beyond the conformance suite, against the Slack fake with the channel-slack plugin in
 * its thread: the Events API handshake and signatures through Pincer's route, Slack's retries
 * and its two events for one mention, channels and threads, reply buttons and their presses,
 * slash commands, streamed previews edited with chat.update, Socket Mode reconnects, and
 * refused tokens.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import type { Pincer } from '../../src/pincer.js';
import type { Responder } from '../../src/pipeline/types.js';
import { deliveriesIn, startChannelPincer } from '../support/channels.js';
import { slackSignature } from '../support/fakes/slack-events.js';
import { BOT_USER, SlackFake } from '../support/fakes/slack.js';
import { eventually, getJson, type RunningPincer } from '../support/index.js';

const fake = new SlackFake({ socket: { ackTimeoutMs: 1500, pingIntervalMs: 500 } });
let running: RunningPincer | undefined;

beforeAll(() => fake.start());
afterAll(() => fake.stop());
afterEach(async () => {
  await running?.close();
  running = undefined;
  fake.transport = 'webhook';
});

async function boot(account: JsonObject = {}, setup?: (pincer: Pincer) => void): Promise<RunningPincer> {
  const settings: JsonObject = { token: fake.botToken, signing_secret: fake.signingSecret, app_token: fake.appToken, dm_policy: 'open', ...account };
  fake.transport = settings['transport'] === 'polling' ? 'socket' : 'webhook';
  running = await startChannelPincer({ channels: { slack: { api_root: fake.url, accounts: { default: settings } } }, ...(setup && { setup }) });
  fake.webhookUrl = `${running.url}/v1/channels/slack/default/webhook`;
  await eventually(() => running?.pincer.channels.list().find((a) => a.account === 'default')?.state, (s) => s === 'webhook' || s === 'polling' || s === 'unavailable', 20_000, 'slack to start');
  return running;
}

let nextUser = 100;
const newUser = () => fake.world.user(nextUser++);
const texts = (conversation: string) => fake.botMessages(conversation).map((m) => m.text);

describe('slack: the Events API', () => {
  it('echoes the challenge when the Request URL is saved', async () => {
    await boot();
    const answer = await fake.events.post(fake.webhookUrl, JSON.stringify({ token: 'x', challenge: 'c3lvw4', type: 'url_verification' }), 'application/json');
    expect(answer).toEqual({ status: 200, text: 'c3lvw4' });
  });

  it('refuses an unsigned, forged or replayed call (401) and commits nothing', async () => {
    const p = await boot();
    const user = newUser();
    const message = fake.world.add(fake.world.dm(user), { user: user.id, text: 'sneaky' });
    const body = JSON.stringify(fake.world.eventCallbacks(message)[0]);
    const unsigned = await fake.events.post(fake.webhookUrl, body, 'application/json', { signature: null });
    const forged = await fake.events.post(fake.webhookUrl, body, 'application/json', { signature: slackSignature('not-the-secret', String(Math.floor(Date.now() / 1000)), body) });
    const old = Math.floor(Date.now() / 1000) - 6 * 60;
    const replayed = await fake.events.post(fake.webhookUrl, body, 'application/json', { timestamp: old, signature: slackSignature(fake.signingSecret, String(old), body) });
    expect([unsigned, forged, replayed].map((a) => [a.status, (JSON.parse(a.text ?? '{}') as { error?: { code?: string } }).error?.code])).toEqual([
      [401, 'CHANNEL_WEBHOOK_UNSIGNED'],
      [401, 'CHANNEL_WEBHOOK_BAD_SIGNATURE'],
      [401, 'CHANNEL_WEBHOOK_STALE'],
    ]);
    expect((await p.pincer.store.admin.stats()).enqueued).toBe(0);
  });

  it("processes Slack's retries and its two events for one mention as one message", async () => {
    await boot({ group_policy: 'open' });
    const user = newUser();
    const channel = fake.world.channel('general', [user]);
    const message = fake.world.add(channel, { user: user.id, text: `<@${BOT_USER}> status?` });
    const [asMessage, asMention] = fake.world.eventCallbacks(message);
    expect(asMention?.['event']).toMatchObject({ type: 'app_mention' });
    const first = await fake.events.post(fake.webhookUrl, JSON.stringify(asMention), 'application/json');
    // A retry of the same delivery (Slack did not see the 2xx in time), then the message event.
    const retry = await fake.events.post(fake.webhookUrl, JSON.stringify(asMention), 'application/json', { retryNum: 1, reason: 'http_timeout' });
    const other = await fake.events.post(fake.webhookUrl, JSON.stringify(asMessage), 'application/json');
    expect([first.status, retry.status, other.status]).toEqual([200, 200, 200]);
    expect(await eventually(() => texts(channel.id), (t) => t.length === 1, 20_000, 'the reply')).toEqual(['re: status?']);
    const conversation = await getJson(`${running!.url}/v1/conversations/${encodeURIComponent(`slack:default:${channel.id}`)}`);
    expect(conversation.body.messages).toHaveLength(1);
    // Answered in the channel, not in a thread (reply_in_thread is off).
    expect(fake.botMessages(channel.id)[0]?.thread_ts).toBeUndefined();
  });

  it('keeps a thread its own conversation and answers in it; reply_in_thread opens one under a channel message', async () => {
    await boot({ group_policy: 'allowlist', groups: { '*': { require_mention: false } }, reply_in_thread: true });
    const user = newUser();
    const channel = fake.world.channel('support', [user]);
    const { message: root } = fake.say(user, channel, 'my printer is on fire');
    await eventually(() => texts(channel.id), (t) => t.length === 1, 20_000, 'the reply');
    expect(fake.botMessages(channel.id)[0]?.thread_ts).toBe(root.ts);
    fake.say(user, channel, 'still burning', { threadTs: root.ts });
    await eventually(() => texts(channel.id), (t) => t.length === 2, 20_000, 'the reply in the thread');
    expect(fake.botMessages(channel.id)[1]).toMatchObject({ text: 're: still burning', thread_ts: root.ts });
    const thread = await getJson(`${running!.url}/v1/conversations/${encodeURIComponent(`slack:default:${channel.id}:t${root.ts}`)}`);
    expect(thread.body.messages).toEqual([expect.objectContaining({ text: 'still burning' })]);
  });

  it('records an unmentioned channel message without answering it, and answers a mention', async () => {
    const p = await boot({ group_policy: 'open' });
    const user = newUser();
    const channel = fake.world.channel('random', [user]);
    await Promise.all(fake.say(user, channel, 'just chatting').sent);
    await Promise.all(fake.say(user, channel, `<@${BOT_USER}> and you?`).sent);
    expect(await eventually(() => texts(channel.id), (t) => t.length === 1, 20_000, 'the reply')).toEqual(['re: and you?']);
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`slack:default:${channel.id}`)}`);
    expect((conversation.body.messages as Array<{ text: string }>).map((m) => m.text)).toEqual(['just chatting', 'and you?']);
  });
});

/** A reply with buttons: `menu` offers two, whose values run the echo command. */
const menu: Responder = {
  name: 'menu',
  order: 10,
  respond(ctx) {
    if (ctx.message.text !== 'menu') return undefined;
    return { text: 'Pick **one**', data: { buttons: [{ label: 'First', value: '/echo chose first' }, { label: 'Second', value: '/echo chose second' }] } };
  },
};

describe('slack: buttons and slash commands', () => {
  for (const transport of ['webhook', 'polling'] as const) {
    it(`puts buttons in Block Kit and runs the value of the one pressed (${transport})`, async () => {
      await boot({ transport }, (pincer) => pincer.registry.addResponder(menu));
      const user = newUser();
      const dm = fake.world.dm(user);
      fake.say(user, dm, 'menu');
      const [asked] = await eventually(() => fake.botMessages(dm.id), (m) => m.length === 1, 20_000, 'the question');
      expect(asked?.text).toBe('Pick *one*');
      expect(asked?.blocks).toEqual([
        { type: 'section', text: { type: 'mrkdwn', text: 'Pick *one*' } },
        {
          type: 'actions',
          block_id: 'pincer_buttons',
          elements: [
            { type: 'button', action_id: 'pincer_button_0', text: { type: 'plain_text', text: 'First', emoji: true }, value: '/echo chose first' },
            { type: 'button', action_id: 'pincer_button_1', text: { type: 'plain_text', text: 'Second', emoji: true }, value: '/echo chose second' },
          ],
        },
      ]);
      const press = await fake.press(user, asked!, 'pincer_button_1');
      await eventually(() => press.acked, Boolean, 10_000, 'the press to be acked');
      expect(await eventually(() => texts(dm.id), (t) => t.length === 2, 20_000, 'the answer to the press')).toEqual(['Pick *one*', 'chose second']);
    });

    it(`answers a slash command in its channel, the command shown there (${transport})`, async () => {
      await boot({ transport });
      const user = newUser();
      const dm = fake.world.dm(user);
      const sent = await fake.command(user, dm, '/echo', 'from a slash command');
      await eventually(() => sent.acked, Boolean, 10_000, 'the command to be acked');
      const answer: unknown = 'answer' in sent ? JSON.parse(sent.answer ?? '{}') : 'ackPayload' in sent ? sent.ackPayload : undefined;
      expect(answer).toEqual({ response_type: 'in_channel' });
      expect(await eventually(() => texts(dm.id), (t) => t.length === 1, 20_000, 'the answer')).toEqual(['from a slash command']);
    });
  }
});

describe('slack: previews', () => {
  it('streams a long answer into one message with chat.update, then sends the final text', async () => {
    await boot({ streaming: 'partial' });
    const user = newUser();
    const dm = fake.world.dm(user);
    fake.say(user, dm, 'stream:8:300');
    const done = await eventually(() => fake.botMessages(dm.id), (m) => m.length === 1 && m[0]!.text.endsWith('word7'), 20_000, 'the final text');
    const updates = fake.calls.filter((c) => c.method === 'chat.update' && c.args['channel'] === dm.id && c.outcome === 'ok');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(done).toHaveLength(1);
    expect(done[0]!.text).toBe(Array.from({ length: 8 }, (_, i) => `word${i} `.repeat(8)).join('').trim());
  });
});

describe('slack: Socket Mode', () => {
  it('reconnects when Slack recycles the socket or it dies, and takes what came meanwhile', async () => {
    const p = await boot({ transport: 'polling' });
    expect(p.pincer.channels.list()[0]?.state).toBe('polling');
    const user = newUser();
    const dm = fake.world.dm(user);
    const before = fake.socket.connections;
    const first = fake.socket.envelopes.length;
    fake.socket.refresh();
    await eventually(() => fake.socket.connections, (n) => n > before && fake.socket.sockets.size === 1, 20_000, 'a new socket after the refresh');
    fake.socket.kill();
    // Said while no socket is open: the fake holds it for the next one, as Slack retries.
    fake.say(user, dm, 'are you there');
    expect(await eventually(() => texts(dm.id), (t) => t.length === 1, 20_000, 'the reply after the reconnect')).toEqual(['re: are you there']);
    // Every envelope of this test acked (the bot's own post comes back as one too), none lost.
    await eventually(() => fake.socket.envelopes.slice(first), (list) => list.length >= 2 && list.every((e) => e.acked), 10_000, 'every envelope acked');
  });

  it('stops the account with a hint when the app-level token is refused', async () => {
    const p = await boot({ transport: 'polling', app_token: 'xapp-1-not-the-token' });
    await eventually(() => p.pincer.channels.list()[0]?.state, (s) => s === 'unavailable', 20_000, 'the refused token');
    const status = p.pincer.channels.list()[0];
    expect(`${status?.detail} ${status?.hint}`).toMatch(/app_token|SLACK_APP_TOKEN/);
  });
});

describe('slack: accounts', () => {
  it('a refused bot token makes the account unavailable at connect, with a hint, in /ready', async () => {
    const p = await boot({ token: 'xoxb-1-revoked' });
    await eventually(() => p.pincer.channels.list()[0]?.state, (s) => s === 'unavailable', 20_000, 'the refused token');
    expect(`${p.pincer.channels.list()[0]?.detail}`).toMatch(/invalid_auth.*SLACK_BOT_TOKEN/);
    const ready = await getJson(`${p.url}/ready`);
    expect(ready.body.checks['channel.slack.default']).toMatch(/^unavailable/);
  });

  it('names the missing signing secret when the Events API is the transport', async () => {
    const p = await boot({ signing_secret: null });
    await eventually(() => p.pincer.channels.list()[0]?.state, (s) => s === 'unavailable', 20_000, 'the account to stop');
    expect(p.pincer.channels.list()[0]?.detail).toMatch(/signing_secret is not set.*transport: polling/);
  });

  it('a reply that Slack refuses for good goes to the dead deliveries with the reason', async () => {
    const p = await boot({ group_policy: 'allowlist', groups: { '*': { require_mention: false } } });
    const user = newUser();
    const channel = fake.world.channel('archive-me', [user]);
    fake.say(user, channel, 'last words');
    channel.archived = true;
    const [dead] = await eventually(() => deliveriesIn(p.pincer, 'dead', 'slack'), (d) => d.length === 1, 20_000, 'the dead delivery');
    expect(dead).toMatchObject({ errorClass: 'permanent', lastError: expect.stringContaining('is_archived') });
  });
});
