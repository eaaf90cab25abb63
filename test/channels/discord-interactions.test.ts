/**
 * Discord's buttons and slash commands through a real Pincer (the commands plugin and the
 * Discord plugin in their threads) against the Discord fake: the bot's commands become its
 * slash commands at connect, a reply's buttons are message components, a press runs the
 * button's value as the user's text (here a command), and a slash command's answer replaces
 * its deferred "thinking…" response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountReady, deliveriesIn, startChannelPincer } from '../support/channels.js';
import { DiscordFake, type FakeChannel, type FakeDiscordUser } from '../support/fakes/discord.js';
import { LOADING } from '../support/fakes/discord-interactions.js';
import { eventually, type RunningPincer } from '../support/index.js';

describe('discord buttons and slash commands through Pincer', () => {
  let fake: DiscordFake;
  let running: RunningPincer;
  let alice: FakeDiscordUser;
  let dm: FakeChannel;

  beforeAll(async () => {
    fake = new DiscordFake({ heartbeatIntervalMs: 300 });
    await fake.start();
    running = await startChannelPincer({
      channels: { discord: { api_root: fake.url, accounts: { default: { token: fake.token, dm_policy: 'open', streaming: 'off' } } } },
      setup: (pincer) =>
        pincer.registry.addResponder({
          name: 'menu',
          order: 10,
          respond: (ctx) =>
            ctx.message.text === 'menu'
              ? { text: 'Pick one', data: { buttons: [{ label: 'Echo it', value: '/echo pressed' }, { label: 'Ping', value: '/ping' }] } }
              : undefined,
        }),
    });
    await accountReady(running.pincer, 'discord');
    alice = fake.user(1, 'alice');
    dm = fake.dm(alice);
  });

  afterAll(async () => {
    await running?.close();
    await fake?.stop();
  });

  it('registers the bot commands as global slash commands', async () => {
    const commands = await eventually(() => fake.interactions.commands.map((c) => c.name), (names) => names.includes('echo'), 10_000, 'the slash commands');
    expect(commands).toEqual(expect.arrayContaining(['echo', 'help', 'ping', 'stats']));
    expect(fake.interactions.commands.find((c) => c.name === 'echo')).toMatchObject({ description: 'repeat your text', options: [{ name: 'text', type: 3, required: false }] });
  });

  it('a reply with buttons shows them; a press runs the value as a command and is acknowledged', async () => {
    fake.post(dm, alice, 'menu');
    const menu = await eventually(() => fake.sentIn(dm.id).find((m) => m.content === 'Pick one'), (m) => m !== undefined, 15_000, 'the menu');
    expect(menu!.components).toEqual([
      {
        type: 1,
        components: [
          { type: 2, style: 2, label: 'Echo it', custom_id: '/echo pressed' },
          { type: 2, style: 2, label: 'Ping', custom_id: '/ping' },
        ],
      },
    ]);
    const press = fake.interactions.press(dm, alice, menu!, '/echo pressed');
    const answer = await eventually(() => fake.sentIn(dm.id).find((m) => m.content === 'pressed'), (m) => m !== undefined, 15_000, 'the echo');
    expect(press.callback?.type).toBe(6);
    // The answer is a reply to the message whose button was pressed.
    expect(answer!.message_reference?.message_id).toBe(menu!.id);
    const stored = await running.pincer.store.channels.listDeliveries({ channel: 'discord', limit: 50 });
    expect(stored.some((d) => (d.target as { replyTo?: string }).replyTo === menu!.id)).toBe(true);
  });

  it('a slash command is answered by editing its deferred response, with no second message', async () => {
    const before = fake.sentIn(dm.id).length;
    const slash = fake.interactions.slash(dm, alice, 'echo', 'from a slash command');
    await eventually(() => slash.original?.content, (content) => content === 'from a slash command', 15_000, 'the @original edit');
    expect(slash.callback?.type).toBe(5);
    expect((slash.original!.flags ?? 0) & LOADING).toBe(0);
    // The deferred response is the one new message: the answer went into it.
    expect(fake.sentIn(dm.id).length).toBe(before + 1);
    expect(fake.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith('/messages/@original'))).toHaveLength(1);
    // The delivery is marked sent once the PATCH answered.
    await eventually(() => deliveriesIn(running.pincer, 'sent', 'discord'), (sent) => sent.some((d) => d.receipts.includes(slash.original!.id)), 10_000, 'the delivery to be sent');
  });
});
