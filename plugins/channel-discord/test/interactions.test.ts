import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelAccount, ChannelSpec, ChannelTarget, CommandInfo, JsonObject, PluginLogger, RenderedPart } from 'pincer/plugin';
import { DiscordFake, type FakeChannel, type FakeDiscordUser } from '../../../test/support/fakes/discord.js';
import { LOADING } from '../../../test/support/fakes/discord-interactions.js';
import { classOf, events, recorder, until, type Recorder } from '../../../test/support/fakes/discord-io.js';
import { createDiscordChannel } from '../channel.js';
import { slashCommands } from '../commands.js';
import { interactionRef } from '../interactions.js';

let fake: DiscordFake;
let channel: ChannelSpec;
let alice: FakeDiscordUser;
let dm: FakeChannel;
let logs: Array<{ level: string; msg: string; fields?: JsonObject }>;
let commands: CommandInfo[];

const log: PluginLogger = {
  debug: () => {},
  info: (msg, fields) => logs.push({ level: 'info', msg, ...(fields ? { fields } : {}) }),
  warn: (msg, fields) => logs.push({ level: 'warn', msg, ...(fields ? { fields } : {}) }),
  error: (msg, fields) => logs.push({ level: 'error', msg, ...(fields ? { fields } : {}) }),
};
const signal = () => new AbortController().signal;

function account(extra: JsonObject = {}): ChannelAccount {
  return { id: 'default', config: { token: fake.token, api_root: fake.url, ...extra } };
}

beforeEach(async () => {
  logs = [];
  commands = [
    { name: 'help', description: 'list the commands I understand', plugin: 'commands' },
    { name: 'echo', description: 'repeat your text', usage: '<text>', plugin: 'commands' },
  ];
  fake = new DiscordFake({ heartbeatIntervalMs: 200 });
  await fake.start();
  channel = createDiscordChannel({ log, commands: async () => commands, commandSyncMs: 50 });
  alice = fake.user(1, 'alice');
  dm = fake.dm(alice);
});

afterEach(async () => {
  await fake.stop();
});

/** A poll loop with the recorder, started once READY is committed. */
async function running(io: Recorder = recorder()): Promise<{ io: Recorder; stop: () => Promise<void> }> {
  const controller = new AbortController();
  const done = channel.poll!(account(), io, controller.signal);
  await until(() => io.cursors.length > 0, 'READY to be committed');
  return {
    io,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

const callbacks = (id: string) => fake.calls.filter((c) => c.path.startsWith(`/api/v10/interactions/${id}/`));

describe('discord buttons', () => {
  const target = (): ChannelTarget => ({ conversation: { kind: 'direct', id: dm.id } });

  it('puts the buttons on the last part as action rows of at most 5, labels cut to 80, a repeated value left off', async () => {
    const buttons = [
      ...Array.from({ length: 7 }, (_, i) => ({ label: `Choice ${i}`, value: `/pick ${i}` })),
      { label: 'x'.repeat(90), value: '/long' },
      { label: 'Again', value: '/pick 0' },
    ];
    const plan = await channel.plan('word '.repeat(900), target(), account(), { buttons });
    expect(plan.parts.length).toBe(3);
    expect(plan.parts.slice(0, -1).every((p) => p.extra?.['components'] === undefined)).toBe(true);
    const rows = plan.parts.at(-1)!.extra!['components'] as Array<{ type: number; components: Array<{ type: number; style: number; label: string; custom_id: string }> }>;
    expect(rows.map((r) => r.components.length)).toEqual([5, 3]);
    expect(rows[0]!.components[0]).toEqual({ type: 2, style: 2, label: 'Choice 0', custom_id: '/pick 0' });
    expect([...rows[1]!.components[2]!.label]).toHaveLength(80);
    expect(rows.flatMap((r) => r.components).filter((b) => b.custom_id === '/pick 0')).toHaveLength(1);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'discord buttons left off' }));

    const sent = await channel.send(plan.parts.at(-1)!, target(), account(), signal());
    const message = fake.sentIn(dm.id).find((m) => m.id === sent.platformMessageId)!;
    expect(message.components).toEqual(rows);
    // An edit keeps them only by sending them again; an edit without any removes them.
    await channel.edit!(sent.platformMessageId!, { text: 'no more choices', plain: '' }, target(), account(), signal());
    expect(message.components).toEqual([]);
  });

  it('the fake refuses components past Discord limits with 400 50035 Invalid Form Body', async () => {
    const button = (id: string, label = 'b') => ({ type: 2, style: 2, label, custom_id: id });
    const row = (...buttons: unknown[]) => ({ type: 1, components: buttons });
    const bad: Array<[unknown[], string]> = [
      [[row(...Array.from({ length: 6 }, (_, i) => button(`b${i}`)))], 'components.0.components'],
      [Array.from({ length: 6 }, (_, i) => row(button(`r${i}`))), 'components'],
      [[row(button('y'.repeat(101)))], 'components.0.components.0.custom_id'],
      [[row(button('same'), button('same'))], 'components.0.components.1.custom_id'],
      [[row(button('a', 'l'.repeat(81)))], 'components.0.components.0.label'],
    ];
    for (const [i, [components, where]] of bad.entries()) {
      // A channel each: Discord allows 5 messages per 5 s in one.
      const room = fake.dm(fake.user(10 + i));
      const part: RenderedPart = { text: 'x', plain: 'x', extra: { components: components as JsonObject[] } };
      const err = await classOf(channel.send(part, { conversation: { kind: 'direct', id: room.id } }, account(), signal()));
      expect(err.errorClass).toBe('permanent');
      expect(err.message).toContain('50035');
      const answer = fake.calls.at(-1)!;
      expect(answer.status).toBe(400);
      let node: unknown = (await (await fetch(`${fake.url}/v10/channels/${room.id}/messages`, { method: 'POST', headers: { authorization: `Bot ${fake.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'x', components }) })).json()) as { code: number; errors: unknown };
      expect(node).toMatchObject({ code: 50035, message: 'Invalid Form Body' });
      node = (node as { errors: unknown }).errors;
      for (const key of where.split('.')) node = (node as Record<string, unknown>)[key];
      expect(node).toMatchObject({ _errors: [expect.objectContaining({ code: expect.any(String) })] });
      expect(fake.sentIn(room.id)).toHaveLength(0);
    }
  });

  it('a press is an action event with the value as its id, acknowledged (type 6) only after its commit', async () => {
    const { io, stop } = await running();
    try {
      const plan = await channel.plan('pick one', target(), account(), { buttons: [{ label: 'Help', value: '/help' }] });
      const sent = await channel.send(plan.parts[0]!, target(), account(), signal());
      const message = fake.sentIn(dm.id).find((m) => m.id === sent.platformMessageId)!;
      io.refuse = 2;
      const press = fake.interactions.press(dm, alice, message, '/help');
      await until(() => press.callback !== undefined, 'the acknowledgement');
      const event = events(io).find((e) => e.eventId === press.id)!;
      expect(event).toMatchObject({ kind: 'action', action: { id: '/help' }, text: '', messageId: message.id, conversation: { kind: 'direct', id: dm.id }, sender: { id: alice.id, username: 'alice' }, mentions: { bot: true }, replyTo: { messageId: message.id, isBot: true } });
      expect(press.callback!.type).toBe(6);
      // Two refused commits went by without an answer to Discord: the answer followed the commit.
      expect(callbacks(press.id)).toHaveLength(1);
      expect(press.callback!.at).toBeGreaterThanOrEqual(io.committedAt.get(press.id)!);
      expect(JSON.stringify(event.raw)).not.toContain(press.token);
    } finally {
      await stop();
    }
  });

  it('an interaction whose 3 s passed before its commit is neither acknowledged nor taken', async () => {
    const { io, stop } = await running();
    try {
      const sent = await channel.send({ text: 'x', plain: 'x', extra: { components: [{ type: 1, components: [{ type: 2, style: 2, label: 'Go', custom_id: 'go' }] }] } }, target(), account(), signal());
      const message = fake.sentIn(dm.id).find((m) => m.id === sent.platformMessageId)!;
      // A replay of a press made a minute ago (a resume after a crash).
      const old = fake.interactions.press(dm, alice, message, 'go', Date.now() - 60_000);
      const fresh = fake.interactions.press(dm, alice, message, 'go');
      await until(() => fresh.callback !== undefined, 'the fresh press to be answered');
      expect(events(io).filter((e) => e.kind === 'action').map((e) => e.eventId)).toEqual([fresh.id]);
      expect(callbacks(old.id)).toHaveLength(0);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'info', msg: expect.stringContaining('not committed within its 3 s') }));
    } finally {
      await stop();
    }
  });
});

describe('discord slash commands', () => {
  it('registers the commands at connect with one PUT, and writes nothing while they stay the same', async () => {
    commands.push({ name: 'Shout', description: 'not a Discord name' }, { name: 'x'.repeat(33), description: 'too long' }, { name: 'stats', description: 'd'.repeat(150) });
    await channel.connect!(account(), signal());
    const puts = () => fake.calls.filter((c) => c.method === 'PUT' && c.path === `/api/v10/applications/${fake.applicationId}/commands`);
    expect(puts()).toHaveLength(1);
    expect(fake.interactions.commands.map((c) => c.name)).toEqual(['echo', 'help', 'stats']);
    expect(fake.interactions.commands.find((c) => c.name === 'echo')).toMatchObject({
      type: 1,
      description: 'repeat your text',
      options: [{ type: 3, name: 'text', description: '<text>', required: false }],
    });
    expect([...fake.interactions.commands.find((c) => c.name === 'stats')!.description]).toHaveLength(100);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('slash commands left off'), fields: expect.objectContaining({ names: ['Shout', 'x'.repeat(33)] }) }));

    await channel.connect!(account(), signal());
    expect(puts()).toHaveLength(1);
    expect(fake.interactions.creates).toBe(3);
    commands.push({ name: 'ping', description: 'check that I am alive' });
    await channel.connect!(account(), signal());
    expect(puts()).toHaveLength(2);
    expect(fake.interactions.creates).toBe(4);
    await channel.connect!(account({ slash_commands: false }), signal());
    expect(fake.calls.filter((c) => c.path.includes('/commands'))).toHaveLength(5);
  });

  it('a running account registers commands that changed after connect (a plugin started late or reloaded)', async () => {
    await channel.connect!(account(), signal());
    const { stop } = await running();
    try {
      commands.push({ name: 'ping', description: 'check that I am alive' });
      await until(() => fake.interactions.commands.some((c) => c.name === 'ping'), 'the new command');
      expect(fake.calls.filter((c) => c.method === 'PUT')).toHaveLength(2);
    } finally {
      await stop();
    }
  });

  it('a registration Discord refuses is logged, and the account still connects', async () => {
    fake.interactions.createLimit = 1;
    await channel.connect!(account(), signal());
    expect(fake.interactions.commands).toEqual([]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('not registered'), fields: expect.objectContaining({ error: expect.any(String) }) }));
    expect(slashCommands(commands).commands.map((c) => c.name)).toEqual(['echo', 'help']);
  });

  it('a slash command is a command event acknowledged with type 5; its reply edits @original, further parts are messages', async () => {
    await channel.connect!(account(), signal());
    const { io, stop } = await running();
    try {
      const slash = fake.interactions.slash(dm, alice, 'echo', 'hello there');
      await until(() => slash.callback !== undefined, 'the acknowledgement');
      expect(slash.callback!.type).toBe(5);
      expect(slash.original).toMatchObject({ flags: LOADING, content: '' });
      const event = events(io).find((e) => e.eventId === slash.id)!;
      expect(event).toMatchObject({ kind: 'command', text: '/echo hello there', conversation: { kind: 'direct', id: dm.id }, mentions: { bot: true } });
      expect(event.messageId.length).toBeLessThanOrEqual(256);
      expect(io.committedAt.get(slash.id)).toBeLessThanOrEqual(slash.callback!.at);

      const target: ChannelTarget = { conversation: event.conversation, replyTo: event.messageId };
      const first = await channel.send({ text: 'hello there', plain: 'hello there', extra: { webhookId: 'd1.0' } }, target, account(), signal());
      await channel.send({ text: 'and more', plain: 'and more', extra: { webhookId: 'd1.1' } }, { conversation: target.conversation }, account(), signal());
      expect(first.platformMessageId).toBe(slash.original!.id);
      expect(slash.original).toMatchObject({ content: 'hello there', flags: 0 });
      expect(fake.sentIn(dm.id).map((m) => m.content)).toEqual(['hello there', 'and more']);
      const patch = fake.calls.find((c) => c.method === 'PATCH' && c.path.includes('/webhooks/'))!;
      expect(patch.path).toBe(`/api/v10/webhooks/${fake.applicationId}/${slash.token}/messages/@original`);
      // Editing the answer (a streamed preview) goes through the interaction's webhook too.
      await channel.edit!(first.platformMessageId!, { text: 'hello again', plain: '' }, target, account(), signal());
      expect(slash.original!.content).toBe('hello again');
      // A slash command shows "thinking…" already.
      await channel.typing!(target, account(), 'start', signal());
      expect(fake.calls.some((c) => c.path.endsWith('/typing'))).toBe(false);
    } finally {
      await stop();
    }
  });

  it('a retried @original PATCH (the answer was lost) edits the same message: no duplicate', async () => {
    await channel.connect!(account(), signal());
    const { io, stop } = await running();
    try {
      const slash = fake.interactions.slash(dm, alice, 'help');
      await until(() => slash.callback !== undefined, 'the acknowledgement');
      const event = events(io).find((e) => e.eventId === slash.id)!;
      expect(event.text).toBe('/help');
      const part = { text: 'the commands', plain: 'the commands', extra: { webhookId: 'd2.0' } };
      const target: ChannelTarget = { conversation: event.conversation, replyTo: event.messageId };
      fake.interactions.fault({ kind: 'drop' });
      expect((await classOf(channel.send(part, target, account(), signal()))).errorClass).toBe('ambiguous');
      const again = await channel.send(part, target, account(), signal());
      expect(again.platformMessageId).toBe(slash.original!.id);
      expect(fake.sentIn(dm.id).map((m) => m.content)).toEqual(['the commands']);
      expect(fake.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/webhooks/'))).toHaveLength(2);
    } finally {
      await stop();
    }
  });

  it('answers with a channel message once the token is past its 15 minutes, or refused', async () => {
    await channel.connect!(account(), signal());
    const stale = fake.interactions.slash(dm, alice, 'help', undefined, Date.now() - 16 * 60_000);
    const target: ChannelTarget = { conversation: { kind: 'direct', id: dm.id }, replyTo: interactionRef(stale.id, stale.token) };
    const late = await channel.send({ text: 'late answer', plain: 'late answer', extra: { webhookId: 'd3.0' } }, target, account(), signal());
    expect(fake.calls.some((c) => c.path.includes('/webhooks/'))).toBe(false);
    const message = fake.sentIn(dm.id).find((m) => m.id === late.platformMessageId)!;
    expect(message).toMatchObject({ content: 'late answer', nonce: expect.any(String) });
    expect(message.message_reference).toBeUndefined();

    // Never acknowledged (its commit came too late): Discord has no @original to edit.
    const unanswered = fake.interactions.slash(dm, alice, 'help');
    const refused = await channel.send({ text: 'answer', plain: 'answer', extra: { webhookId: 'd4.0' } }, { ...target, replyTo: interactionRef(unanswered.id, unanswered.token) }, account(), signal());
    expect(fake.calls.filter((c) => c.path.includes('/webhooks/')).map((c) => c.status)).toEqual([404]);
    expect(fake.sentIn(dm.id).find((m) => m.id === refused.platformMessageId)!.content).toBe('answer');
  });

  it('a token too long for an event id is kept in memory, and the reply still edits @original', async () => {
    await channel.connect!(account(), signal());
    fake.interactions.longTokens = true;
    const { io, stop } = await running();
    try {
      const slash = fake.interactions.slash(dm, alice, 'help');
      await until(() => slash.callback !== undefined, 'the acknowledgement');
      expect(slash.token.length).toBeGreaterThan(256);
      const event = events(io).find((e) => e.eventId === slash.id)!;
      expect(event.messageId).toBe(`i:${slash.id}`);
      await channel.send({ text: 'from memory', plain: 'from memory', extra: { webhookId: 'd5.0' } }, { conversation: event.conversation, replyTo: event.messageId }, account(), signal());
      expect(slash.original!.content).toBe('from memory');
    } finally {
      await stop();
    }
  });
});
