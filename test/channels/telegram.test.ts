/**
 * Telegram beyond the conformance suite: previews, typing, the plain-text fallback, groups,
 * topics, buttons (a press, and a reply's inline keyboard), bots, fatal errors and the webhook
 * transport, against the Bot API fake with the channel-telegram plugin in its thread.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import type { Pincer } from '../../src/pincer.js';
import type { Responder } from '../../src/pipeline/types.js';
import { deliveriesIn, longMarkdown, startChannelPincer, testResponder } from '../support/channels.js';
import { TelegramFake, type FakeChat } from '../support/fakes/telegram.js';
import { eventually, getJson, type RunningPincer } from '../support/index.js';

const fake = new TelegramFake();
let running: RunningPincer | undefined;

beforeAll(() => fake.start());
afterAll(() => fake.stop());
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function boot(account: JsonObject = {}, extra: JsonObject = {}, setup?: (pincer: Pincer) => void): Promise<RunningPincer> {
  running = await startChannelPincer({
    channels: { telegram: { api_root: fake.url, accounts: { default: { token: fake.token, poll_timeout: 1, dm_policy: 'open', ...account } } }, ...extra },
    ...(setup !== undefined ? { setup } : {}),
  });
  await eventually(() => running?.pincer.channels.list().find((a) => a.account === 'default')?.state, (s) => s === 'polling' || s === 'webhook' || s === 'unavailable', 20_000, 'telegram to start');
  return running;
}

let nextUser = 5000;
function direct() {
  const user = fake.user({ id: nextUser++, first_name: 'Ann' });
  return { user, chat: fake.privateChat(user) };
}

const calls = (method: string, chatId: number) => fake.calls.filter((c) => c.method === method && Number(c.params.chat_id) === chatId);

describe('telegram: streaming previews and typing', () => {
  it('streams a reply into one message, editing at most once a second and never with unchanged text', async () => {
    const p = await boot();
    const { user, chat } = direct();
    const errorsBefore = fake.calls.filter((c) => c.status >= 400).length;
    fake.pushMessage({ chat, from: user, text: 'stream:10:300' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 20_000, 'the final delivery');
    const messages = fake.sent(chat.id);
    expect(messages).toHaveLength(1);
    const expected = Array.from({ length: 10 }, (_, i) => `word${i} `.repeat(8)).join('').trim();
    expect(messages[0]?.text).toBe(expected);
    const edits = calls('editMessageText', chat.id);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    // Preview edits (all but the final delivery's) are at least the throttle apart.
    const previewEdits = edits.slice(0, -1);
    for (let i = 1; i < previewEdits.length; i++) expect((previewEdits[i] as { at: number }).at - (previewEdits[i - 1] as { at: number }).at).toBeGreaterThanOrEqual(950);
    // No edit was refused ("message is not modified" or otherwise).
    expect(fake.calls.filter((c) => c.status >= 400).length).toBe(errorsBefore);
    const sent = await deliveriesIn(p.pincer, 'sent', 'telegram');
    expect(sent.find((d) => d.lane === `telegram:default:${chat.id}`)?.body.edits).toHaveLength(1);
  });

  it('suspends previews on a 429 without opening a second message, and still delivers the whole reply', async () => {
    const p = await boot();
    const { user, chat } = direct();
    fake.fault('editMessageText', { kind: 'rate_limit', retryAfter: 1 }, 1);
    fake.pushMessage({ chat, from: user, text: 'stream:8:300' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 20_000, 'the final delivery');
    expect(fake.sent(chat.id)).toHaveLength(1);
    expect(fake.sent(chat.id)[0]?.text).toContain('word7');
    expect(fake.violations).toEqual([]);
  });

  it('shows typing from the claim and stops at the final delivery', async () => {
    const p = await boot();
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'stream:6:1000' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 20_000, 'the final delivery');
    const typing = calls('sendChatAction', chat.id);
    expect(typing.length).toBeGreaterThanOrEqual(2);
    expect(typing.every((c) => c.params.action === 'typing')).toBe(true);
    const finalAt = calls('editMessageText', chat.id).at(-1)?.at ?? calls('sendMessage', chat.id).at(-1)?.at ?? 0;
    const firstSend = calls('sendMessage', chat.id)[0]?.at ?? 0;
    expect(typing[0]!.at).toBeLessThanOrEqual(firstSend);
    // Refreshed about every 4 s while the turn ran, and never after the reply.
    for (let i = 1; i < typing.length; i++) expect(typing[i]!.at - typing[i - 1]!.at).toBeGreaterThanOrEqual(3_500);
    const countAtEnd = calls('sendChatAction', chat.id).length;
    // Another turn in another chat runs through more than one typing interval meanwhile.
    const other = direct();
    fake.pushMessage({ chat: other.chat, from: other.user, text: 'stream:5:1000' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${other.chat.id}`), 20_000, 'the other turn');
    expect(calls('sendChatAction', chat.id)).toHaveLength(countAtEnd);
    expect(calls('sendChatAction', chat.id).every((c) => c.at <= finalAt)).toBe(true);
  });
});

describe('telegram: rendering', () => {
  it('sends HTML, and a part the platform cannot parse once more as plain text', async () => {
    const p = await boot({ streaming: 'off' });
    const { user, chat } = direct();
    fake.fault('sendMessage', { kind: 'status', status: 400, description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3" }, 1);
    fake.pushMessage({ chat, from: user, text: 'long:600' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 20_000, 'the delivery');
    const sends = calls('sendMessage', chat.id);
    expect(sends).toHaveLength(2);
    expect(sends[0]?.params.parse_mode).toBe('HTML');
    expect(sends[1]?.params.parse_mode).toBeUndefined();
    expect(fake.sent(chat.id)[0]?.text).toContain('Paragraph 0 says something useful');
  });
});

describe('telegram: groups, topics, buttons and bots', () => {
  it('stores an unmentioned group message as context and answers a mention', async () => {
    const p = await boot({ groups: { '*': { require_mention: true } } });
    const group = fake.group({ id: -100500, type: 'supergroup', title: 'Team' });
    const member = fake.user({ id: nextUser++, first_name: 'Bob' });
    const quiet = fake.pushMessage({ chat: group, from: member, text: 'just chatting' });
    const mention = `@${fake.bot.username}`;
    fake.pushMessage({ chat: group, from: member, text: `${mention} what do you think?`, entities: [{ type: 'mention', offset: 0, length: mention.length }] });
    await eventually(() => fake.sent(group.id), (m) => m.length === 1, 20_000, 'the answer to the mention');
    expect(fake.sent(group.id)[0]?.text).toBe('re: what do you think?');
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`telegram:default:${group.id}`)}`);
    expect(conversation.body.messages.map((m: { text: string; reply: unknown }) => [m.text, m.reply === null])).toEqual([
      ['just chatting', true],
      ['what do you think?', false],
    ]);
    expect(quiet.update_id).toBeGreaterThan(0);
  });

  it('answers a forum topic in its thread, as a conversation of its own', async () => {
    const p = await boot({ groups: { '*': { require_mention: false } } });
    const forum = fake.group({ id: -100600, type: 'supergroup', title: 'Forum', is_forum: true });
    fake.world.addTopic(forum.id, 77);
    const member = fake.user({ id: nextUser++, first_name: 'Cy' });
    fake.pushMessage({ chat: forum, from: member, text: 'in a topic', threadId: 77 });
    await eventually(() => fake.sent(forum.id), (m) => m.length === 1, 20_000, 'the topic answer');
    expect(fake.sent(forum.id)[0]).toMatchObject({ text: 're: in a topic', message_thread_id: 77 });
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`telegram:default:${forum.id}:t77`)}`);
    expect(conversation.body.messages).toHaveLength(1);
  });

  it('takes a button press as an action and answers its callback', async () => {
    await boot();
    const { user, chat } = direct();
    const origin = fake.pushMessage({ chat, from: user, text: 'hello' });
    await eventually(() => fake.sent(chat.id), (m) => m.length === 1, 20_000, 'the first answer');
    const botMessage = fake.sent(chat.id)[0]!;
    fake.pushCallback({ chat, from: user, messageId: botMessage.message_id, data: 'choice:blue' });
    await eventually(() => fake.sent(chat.id), (m) => m.length === 2, 20_000, 'the answer to the button');
    expect(fake.sent(chat.id)[1]?.text).toBe('re: choice:blue');
    await eventually(() => fake.outboundOf('answerCallbackQuery').length, (n) => n >= 1, 10_000, 'answerCallbackQuery');
    expect(origin.update_id).toBeGreaterThan(0);
  });

  it('drops messages from other bots', async () => {
    const p = await boot();
    const bot = fake.user({ id: nextUser++, first_name: 'Other', is_bot: true });
    const update = fake.pushMessage({ chat: fake.privateChat(bot), from: bot, text: 'beep' });
    await eventually(() => fake.pendingUpdates.some((u) => u.update_id === update.update_id), (pending) => !pending, 10_000, 'the update to be confirmed');
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`telegram:default:${bot.id}`)}`);
    expect(conversation.body.messages ?? []).toEqual([]);
    expect((await p.pincer.store.messages.latest(`telegram:default:${bot.id}`, 10)).length).toBe(0);
    expect(fake.sent(bot.id)).toEqual([]);
  });
});

const BUTTONS = [
  { label: 'Echo it', value: '/echo pressed' },
  { label: 'Ping', value: '/ping' },
];
const KEYBOARD = { inline_keyboard: [[{ text: 'Echo it', callback_data: '/echo pressed' }, { text: 'Ping', callback_data: '/ping' }]] };

/** "menu": a short reply with buttons; "menu:long": 9,000 characters; "menu:stream": streamed first (as "stream:8:300"). */
const menu: Responder = {
  name: 'menu',
  order: 10,
  async respond(ctx) {
    const text = ctx.message.text;
    if (text === 'menu') return { text: 'Pick **one**', data: { buttons: BUTTONS } };
    if (text === 'menu:long') return { text: longMarkdown(9_000), data: { buttons: BUTTONS } };
    if (text !== 'menu:stream') return undefined;
    const streamed = await testResponder.respond({ ...ctx, message: { ...ctx.message, text: 'stream:8:300' } });
    return { text: streamed?.text ?? '', data: { buttons: BUTTONS } };
  },
};
const withMenu = (pincer: Pincer): void => {
  pincer.registry.addResponder(menu);
};

const sends = (chatId: number) => calls('sendMessage', chatId);
const delivered = (p: RunningPincer, chat: FakeChat) =>
  eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 30_000, 'the delivery');

describe('telegram: reply buttons through Pincer', () => {
  it('shows a reply\'s buttons as its inline keyboard; a press runs the value as the next message and stops the spinner', async () => {
    const p = await boot({ streaming: 'off' }, {}, withMenu);
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'menu' });
    await delivered(p, chat);
    const [shown] = fake.sent(chat.id);
    expect(shown).toMatchObject({ text: 'Pick one', reply_markup: KEYBOARD });

    const press = fake.pressButton({ chat, from: user, messageId: shown!.message_id, label: 'Echo it' });
    const callbackId = (press['callback_query'] as { id: string }).id;
    const answer = await eventually(() => fake.sent(chat.id).find((m) => m.text === 'pressed'), (m) => m !== undefined, 20_000, 'the echo');
    // The answer replies to the message whose button was pressed, and carries no keyboard of its own.
    expect(sends(chat.id).at(-1)?.params.reply_parameters).toMatchObject({ message_id: shown!.message_id });
    expect(answer!.reply_markup).toBeUndefined();
    await eventually(() => fake.outboundOf('answerCallbackQuery').map((r) => r.params.callback_query_id), (ids) => ids.includes(callbackId), 10_000, 'answerCallbackQuery');
    expect(fake.world.openCallbacks.has(callbackId)).toBe(false);
    const conversation = await p.pincer.store.messages.latest(`telegram:default:${chat.id}`, 10);
    expect(conversation.map((m) => m.text)).toEqual(expect.arrayContaining(['menu', '/echo pressed']));
  });

  it('puts the keyboard on the last message of a long reply only', async () => {
    const p = await boot({ streaming: 'off' }, {}, withMenu);
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'menu:long' });
    await delivered(p, chat);
    const messages = fake.sent(chat.id);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    expect(messages.slice(0, -1).map((m) => m.reply_markup)).toEqual(messages.slice(0, -1).map(() => undefined));
    expect(messages.at(-1)!.reply_markup).toEqual(KEYBOARD);
    const accepted = fake.outboundOf('sendMessage').filter((r) => Number(r.params.chat_id) === chat.id);
    expect(accepted.map((r) => r.params.reply_markup !== undefined)).toEqual([...messages.slice(0, -1).map(() => false), true]);
  });

  it('gives a streamed preview the keyboard with the edit that makes it the reply', async () => {
    const p = await boot({}, {}, withMenu);
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'menu:stream' });
    await delivered(p, chat);
    const messages = fake.sent(chat.id);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.text).toContain('word7');
    expect(messages[0]!.reply_markup).toEqual(KEYBOARD);
    const edits = fake.calls.filter((c) => c.method === 'editMessageText' && Number(c.params.chat_id) === chat.id);
    expect(edits.at(-1)?.params.reply_markup).toEqual(KEYBOARD);
    // The preview's own sends and edits had none: the buttons come with the complete reply.
    expect([...sends(chat.id), ...edits.slice(0, -1)].every((c) => c.params.reply_markup === undefined)).toBe(true);
  });

  it('keeps the keyboard when Telegram cannot parse the HTML and the part goes as plain text', async () => {
    const p = await boot({ streaming: 'off' }, {}, withMenu);
    const { user, chat } = direct();
    fake.fault('sendMessage', { kind: 'status', status: 400, description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3" }, 1);
    fake.pushMessage({ chat, from: user, text: 'menu' });
    await delivered(p, chat);
    const [html, plain] = sends(chat.id);
    expect(html?.params).toMatchObject({ parse_mode: 'HTML', reply_markup: KEYBOARD });
    expect(plain?.params.parse_mode).toBeUndefined();
    expect(plain?.params.reply_markup).toEqual(KEYBOARD);
    expect(fake.sent(chat.id)).toEqual([expect.objectContaining({ text: 'Pick one', reply_markup: KEYBOARD })]);
  });
});

describe('telegram: fatal errors are reported, not retried in a loop', () => {
  it('a refused token makes the account unavailable with a hint, in /ready and the admin list', async () => {
    const p = await boot({ token: '999:WRONG-token' }, {});
    const status = p.pincer.channels.list().find((a) => a.account === 'default');
    expect(status?.state).toBe('unavailable');
    expect(`${status?.detail} ${status?.hint}`).toMatch(/token/i);
    const ready = await getJson(`${p.url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.checks['channel.telegram.default']).toMatch(/^unavailable/);
    const refusedCalls = fake.calls.filter((c) => c.status === 401).length;
    // A healthy second account polls (every poll_timeout = 1 s) meanwhile; the refused one does not try again.
    await running?.close();
    running = undefined;
    const q = await startChannelPincer({ channels: { telegram: { api_root: fake.url, accounts: { default: { token: '999:WRONG-token', poll_timeout: 1 }, good: { token: fake.token, poll_timeout: 1 } } } } });
    running = q;
    await eventually(() => q.pincer.channels.list().find((a) => a.account === 'default')?.state, (s) => s === 'unavailable', 20_000, 'the refused account');
    const before = fake.calls.filter((c) => c.status === 401).length;
    const polls = fake.calls.filter((c) => c.method === 'getUpdates' && c.status === 200).length;
    await eventually(() => fake.calls.filter((c) => c.method === 'getUpdates' && c.status === 200).length, (n) => n >= polls + 3, 20_000, 'three more polls of the good account');
    expect(fake.calls.filter((c) => c.status === 401).length).toBe(before);
    expect(refusedCalls).toBeGreaterThan(0);
  });

  it('a second poller on the token (409) makes the account unavailable', async () => {
    const p = await boot({ poll_timeout: 5 });
    // Pincer's long poll must be the one waiting: Telegram ends the older request with 409.
    await eventually(() => fake.polling, Boolean, 10_000, "Pincer's long poll");
    // Another process polls with the same token: Telegram ends Pincer's long poll with 409.
    const rival = fetch(`${fake.url}/bot${fake.token}/getUpdates?timeout=1`).then((r) => r.json());
    await eventually(() => p.pincer.channels.list().find((a) => a.account === 'default')?.state, (s) => s === 'unavailable', 20_000, 'the 409 to be reported');
    expect(p.pincer.channels.list()[0]?.detail).toMatch(/409|another|conflict/i);
    await rival;
  });
});

describe('telegram: webhook transport', () => {
  it('answers only calls carrying the secret, and 200 only after the commit', async () => {
    const p = await boot({ transport: 'webhook', webhook_secret: 'sekret_123' });
    const { user, chat } = direct();
    const update = { update_id: 990001, message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat, from: user, text: 'via webhook' } };
    const post = (secret: string | undefined) =>
      fetch(`${p.url}/v1/channels/telegram/default/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}) }, body: JSON.stringify(update) });
    const refused = await post('wrong');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('CHANNEL_WEBHOOK_UNAUTHORIZED');
    expect((await post(undefined)).status).toBe(401);
    const accepted = await post('sekret_123');
    expect(accepted.status).toBe(200);
    // Committed before the answer: the message exists now.
    const conversation = await getJson(`${p.url}/v1/conversations/${encodeURIComponent(`telegram:default:${chat.id}`)}`);
    expect(conversation.body.messages).toEqual([expect.objectContaining({ text: 'via webhook' })]);
    expect((await post('sekret_123')).status).toBe(200);
    await eventually(() => fake.sent(chat.id), (m) => m.length === 1, 20_000, 'the reply');
    expect(fake.sent(chat.id)[0]?.text).toBe('re: via webhook');
    const polling = p.pincer.channels.list()[0];
    expect(polling?.transport).toBe('webhook');
    const wrongRoute = await fetch(`${p.url}/v1/channels/telegram/nosuch/webhook`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(wrongRoute.status).toBe(404);
  });
});

describe('telegram: operations', () => {
  it('a reload of the plugin stops the old poll loop before the new one starts: no 409, nothing missed', async () => {
    const p = await boot();
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'before' });
    await eventually(() => fake.sent(chat.id), (m) => m.length === 1, 20_000, 'the first answer');
    const conflicts = fake.calls.filter((c) => c.status === 409).length;
    await p.pincer.plugins.reload('telegram');
    fake.pushMessage({ chat, from: user, text: 'after' });
    await eventually(() => fake.sent(chat.id), (m) => m.length === 2, 20_000, 'the answer after the reload');
    expect(fake.sent(chat.id).map((m) => m.text)).toEqual(['re: before', 're: after']);
    expect(fake.calls.filter((c) => c.status === 409).length).toBe(conflicts);
  });

  it('counts events and deliveries in /metrics', async () => {
    const p = await boot();
    const { user, chat } = direct();
    fake.pushMessage({ chat, from: user, text: 'count me' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 20_000, 'the delivery');
    const text = await (await fetch(`${p.url}/metrics`)).text();
    expect(text).toMatch(/pincer_channel_events_total\{channel="telegram",disposition="answer"\} [1-9]/);
    expect(text).toMatch(/pincer_channel_deliveries_total\{channel="telegram",outcome="sent"\} [1-9]/);
    expect(text).toMatch(/pincer_channel_delivery_latency_seconds_count\{channel="telegram"\} [1-9]/);
  });

  it('reports an account whose polls stall as degraded in /ready', async () => {
    const p = await boot({}, { defaults: { poll_stale_after: '2s' } });
    await eventually(() => getJson(`${p.url}/ready`), (r) => r.body.checks['channel.telegram.default'] === 'ok', 10_000, 'a healthy account');
    // Telegram stops answering: each getUpdates hangs far past the long-poll timeout.
    fake.fault('getUpdates', { kind: 'delay', ms: 6_000 }, 2);
    const ready = await eventually(() => getJson(`${p.url}/ready`), (r) => String(r.body.checks['channel.telegram.default']).startsWith('degraded'), 15_000, 'the account to be degraded');
    expect(ready.status).toBe(200);
    expect(ready.body.checks['channel.telegram.default']).toMatch(/last successful poll \d+ s ago/);
  });

  it('rolls a preview past the length limit into a second message, and the final reply edits both', async () => {
    const p = await boot({ text_chunk_limit: 1000 });
    const { user, chat } = direct();
    // 6 s of writing: the limit is passed after about 3 s, with the chat's 1 message/s leaving room to roll over.
    fake.pushMessage({ chat, from: user, text: 'stream:30:200' });
    await eventually(() => deliveriesIn(p.pincer, 'sent', 'telegram'), (d) => d.some((x) => x.lane === `telegram:default:${chat.id}`), 30_000, 'the final delivery');
    const messages = fake.sent(chat.id);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    for (const m of messages) expect(m.text.length).toBeLessThanOrEqual(1000);
    const expected = Array.from({ length: 30 }, (_, i) => `word${i} `.repeat(8)).join('').trim();
    expect(messages.map((m) => m.text).join(' ').replace(/\s+/g, ' ')).toBe(expected);
    const delivery = (await deliveriesIn(p.pincer, 'sent', 'telegram')).find((x) => x.lane === `telegram:default:${chat.id}`);
    expect((delivery?.body.edits as string[] | undefined)?.length).toBeGreaterThanOrEqual(2);
  });
});
