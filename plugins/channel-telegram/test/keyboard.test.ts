import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelAccount, ChannelSpec, ChannelTarget, JsonObject, PluginLogger, RenderedPart } from 'pincer/plugin';
import { TelegramFake, type FakeChat } from '../../../test/support/fakes/telegram.js';
import { createTelegramChannel } from '../channel.js';
import { inlineKeyboard, markupOf } from '../keyboard.js';
import { classOf } from '../../../test/support/channel-errors.js';

let fake: TelegramFake;
let channel: ChannelSpec;
let dm: FakeChat;
let warnings: Array<{ msg: string; fields?: JsonObject }>;

const log: PluginLogger = {
  debug: () => {},
  info: () => {},
  warn: (msg, fields) => warnings.push({ msg, ...(fields !== undefined ? { fields } : {}) }),
  error: (msg, fields) => warnings.push({ msg, ...(fields !== undefined ? { fields } : {}) }),
};

const account = (extra: JsonObject = {}): ChannelAccount => ({ id: 'default', config: { token: fake.token, api_root: fake.url, poll_timeout: 1, ...extra } });
const direct: ChannelTarget = { conversation: { kind: 'direct', id: '42' } };
const signal = (): AbortSignal => new AbortController().signal;

beforeEach(async () => {
  warnings = [];
  fake = new TelegramFake({ limits: false });
  await fake.start();
  channel = createTelegramChannel({ log });
  dm = fake.privateChat(fake.user({ id: 42, first_name: 'Alice' }));
});

afterEach(async () => {
  await fake.stop();
});

describe('telegram reply buttons: the keyboard', () => {
  it('makes each button a callback button whose data is the value, labels trimmed, in order', () => {
    const { markup, skipped } = inlineKeyboard([
      { label: ' Yes ', value: '/confirm 42' },
      { label: 'No', value: 'no' },
    ]);
    expect(markup).toEqual({ inline_keyboard: [[{ text: 'Yes', callback_data: '/confirm 42' }, { text: 'No', callback_data: 'no' }]] });
    expect(skipped).toEqual([]);
  });

  it('puts short labels side by side and gives a long one its own row, at most 8 a row', () => {
    const rows = (labels: string[]) => inlineKeyboard(labels.map((label, i) => ({ label, value: `v${i}` }))).markup!.inline_keyboard.map((row) => row.map((b) => b.text));
    expect(rows(['Echo it', 'Ping'])).toEqual([['Echo it', 'Ping']]);
    expect(rows(['Tell me more about the first option', 'Yes', 'No'])).toEqual([['Tell me more about the first option'], ['Yes', 'No']]);
    expect(rows(Array.from({ length: 10 }, (_, i) => String(i)))).toEqual([
      ['0', '1', '2', '3', '4', '5', '6', '7'],
      ['8', '9'],
    ]);
    expect(rows(Array.from({ length: 5 }, (_, i) => `Choice ${i}`))).toEqual([['Choice 0', 'Choice 1'], ['Choice 2', 'Choice 3'], ['Choice 4']]);
  });

  it('leaves off a button Telegram would refuse the whole message for, with the reason', () => {
    const { markup, skipped } = inlineKeyboard([
      { label: 'ok', value: 'fine' },
      { label: 'long', value: 'é'.repeat(33) },
      { label: '   ', value: 'blank' },
      { label: 'empty', value: '' },
    ]);
    expect(markup).toEqual({ inline_keyboard: [[{ text: 'ok', callback_data: 'fine' }]] });
    expect(skipped.map((s) => s.value)).toEqual(['é'.repeat(33), 'blank', '']);
    expect(skipped[0]!.reason).toMatch(/1-64 bytes, this value is 66/);
    expect(inlineKeyboard([{ label: 'x', value: 'y'.repeat(65) }]).markup).toBeUndefined();
  });

  it('reads a part\'s keyboard back from its extra, and nothing from an extra without one', () => {
    const markup = { inline_keyboard: [[{ text: 'A', callback_data: 'a' }]] };
    expect(markupOf({ reply_markup: markup })).toEqual(markup);
    expect(markupOf({ parse_mode: 'HTML' })).toBeUndefined();
    expect(markupOf({ reply_markup: { inline_keyboard: [] } })).toBeUndefined();
    expect(markupOf(undefined)).toBeUndefined();
  });
});

describe('telegram reply buttons: plan, send and edit', () => {
  const buttons = [
    { label: 'Echo it', value: '/echo pressed' },
    { label: 'Ping', value: '/ping' },
  ];
  const keyboard = { inline_keyboard: [[{ text: 'Echo it', callback_data: '/echo pressed' }, { text: 'Ping', callback_data: '/ping' }]] };

  it('puts the keyboard on the last part only, beside its parse mode', async () => {
    const plan = await channel.plan('word '.repeat(2000), direct, account(), { buttons });
    expect(plan.parts.length).toBe(3);
    expect(plan.parts.slice(0, -1).every((p) => p.extra?.['reply_markup'] === undefined)).toBe(true);
    expect(plan.parts.at(-1)!.extra).toEqual({ parse_mode: 'HTML', reply_markup: keyboard });
    const plain = await channel.plan('no buttons', direct, account(), {});
    expect(plain.parts[0]!.extra).toEqual({ parse_mode: 'HTML' });
    expect(warnings).toEqual([]);
  });

  it('logs the buttons it left off and keeps the rest', async () => {
    const plan = await channel.plan('pick', direct, account(), { buttons: [...buttons, { label: 'Too long', value: 'x'.repeat(65) }] });
    expect(plan.parts[0]!.extra?.['reply_markup']).toEqual(keyboard);
    expect(warnings).toEqual([{ msg: 'telegram buttons left off', fields: { account: 'default', skipped: [`${'x'.repeat(65)}: callback_data is 1-64 bytes, this value is 65`] } }]);
  });

  it('gives a reply with buttons but no visible text a text of its own', async () => {
    const plan = await channel.plan('  ', direct, account(), { buttons });
    expect(plan.parts).toEqual([{ text: 'Choose one:', plain: 'Choose one:', extra: { reply_markup: keyboard } }]);
    expect(await channel.plan('  ', direct, account(), {})).toMatchObject({ parts: [] });
  });

  it('sends the keyboard with the message, and with its plain-text fallback', async () => {
    const [part] = (await channel.plan('**pick** one', direct, account(), { buttons })).parts;
    const sent = await channel.send(part!, direct, account(), signal());
    expect(fake.outboundOf('sendMessage')[0]!.params).toMatchObject({ parse_mode: 'HTML', reply_markup: keyboard });
    expect(fake.sent(dm.id).find((m) => String(m.message_id) === sent.platformMessageId)?.reply_markup).toEqual(keyboard);
    // What core sends when Telegram cannot parse the markup: the plain text, the parse mode gone, the rest of extra kept.
    const { parse_mode: _mode, ...rest } = part!.extra!;
    const fallback: RenderedPart = { text: part!.plain, plain: part!.plain, extra: { ...rest, plain: true } };
    await channel.send(fallback, direct, account(), signal());
    const second = fake.outboundOf('sendMessage')[1]!.params;
    expect(second).not.toHaveProperty('parse_mode');
    expect(second['reply_markup']).toEqual(keyboard);
    expect(fake.sent(dm.id)[1]).toMatchObject({ text: 'pick one', reply_markup: keyboard });
  });

  it('an edit into the last part brings the keyboard; an edit without one takes it off', async () => {
    const preview = await channel.send({ text: 'pick', plain: 'pick' }, direct, account(), signal());
    const id = preview.platformMessageId!;
    const [last] = (await channel.plan('pick', direct, account(), { buttons })).parts;
    await channel.edit!(id, last!, direct, account(), signal());
    expect(fake.outboundOf('editMessageText')[0]!.params['reply_markup']).toEqual(keyboard);
    expect(fake.sent(dm.id)[0]).toMatchObject({ text: 'pick', reply_markup: keyboard });
    // The same edit again is "not modified", which counts as done.
    await expect(channel.edit!(id, last!, direct, account(), signal())).resolves.toEqual({ platformMessageId: id });
    await channel.edit!(id, { text: 'picked', plain: 'picked', extra: { parse_mode: 'HTML' } }, direct, account(), signal());
    expect(fake.sent(dm.id)[0]!.reply_markup).toBeUndefined();
  });
});

describe('the Telegram fake refuses keyboards as Telegram does', () => {
  const send = (reply_markup: unknown) => channel.send({ text: 'x', plain: 'x', extra: { reply_markup: reply_markup as JsonObject } }, direct, account(), signal());
  const button = (fields: JsonObject) => ({ inline_keyboard: [[fields]] });

  it('answers 400 with its own texts, and sends nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [button({ text: 'a', callback_data: 'y'.repeat(65) }), 'Bad Request: BUTTON_DATA_INVALID'],
      [button({ text: 'a', callback_data: 'ü'.repeat(33) }), 'Bad Request: BUTTON_DATA_INVALID'],
      [button({ text: 'a', callback_data: '' }), "Bad Request: can't parse InlineKeyboardButton: Text buttons are not allowed in the inline keyboard"],
      [button({ text: 'a' }), "Bad Request: can't parse InlineKeyboardButton: Text buttons are not allowed in the inline keyboard"],
      [button({ text: ' ', callback_data: 'a' }), 'Bad Request: BUTTON_TEXT_INVALID'],
      [{ inline_keyboard: Array.from({ length: 101 }, (_, i) => [{ text: `b${i}`, callback_data: `b${i}` }]) }, 'Bad Request: reply markup is too long'],
      [{ inline_keyboard: [{ text: 'a', callback_data: 'a' }] }, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'],
    ];
    for (const [markup, description] of cases) {
      const err = await classOf(send(markup));
      expect([err.errorClass, err.message]).toEqual(['permanent', `sendMessage: 400 ${description}`]);
    }
    expect(fake.sent(dm.id)).toEqual([]);
  });

  it('takes 64 bytes of data, and 100 buttons', async () => {
    await send(button({ text: 'a', callback_data: 'ü'.repeat(32) }));
    await send({ inline_keyboard: Array.from({ length: 10 }, (_, r) => Array.from({ length: 10 }, (_, c) => ({ text: `${r}${c}`, callback_data: `${r}${c}` }))) });
    expect(fake.sent(dm.id)).toHaveLength(2);
  });

  it('lets a user press only a button the message shows', async () => {
    const sent = await send(button({ text: 'Go', callback_data: '/go' }));
    const messageId = Number(sent.platformMessageId);
    const from = fake.user({ id: 43, first_name: 'Bob' });
    const update = fake.pressButton({ chat: dm, from, messageId, label: 'Go' });
    expect(update['callback_query']).toMatchObject({ from, data: '/go', message: { message_id: messageId, reply_markup: { inline_keyboard: [[{ text: 'Go', callback_data: '/go' }]] } } });
    expect(() => fake.pressButton({ chat: dm, from, messageId, label: 'Stop' })).toThrow(/no callback button "Stop"/);
  });
});
