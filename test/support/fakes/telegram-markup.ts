/**
 * The Telegram fake's check of a message's `reply_markup` (sendMessage, editMessageText), with
 * the refusals the Bot API gives: an inline keyboard is an array of rows of buttons, each with
 * a non-empty `text` and exactly one action (here `callback_data` of 1-64 bytes, or `url`), at
 * most 100 buttons in all. A form-encoded call carries the markup as JSON text. Other markups
 * (a reply keyboard, force_reply) are stored as given, unchecked: Pincer sends none.
 */
import type { Params } from './telegram-world.js';

export interface FakeInlineButton {
  text: string;
  callback_data?: string;
  url?: string;
}

export interface FakeInlineKeyboard {
  inline_keyboard: FakeInlineButton[][];
}

export type MarkupCheck = { ok: true; markup: FakeInlineKeyboard | Record<string, unknown> | undefined } | { ok: false; description: string };

export const MAX_CALLBACK_DATA_BYTES = 64;
export const MAX_INLINE_BUTTONS = 100;

const refused = (description: string): MarkupCheck => ({ ok: false, description: `Bad Request: ${description}` });
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function checkButton(button: unknown): FakeInlineButton | MarkupCheck {
  if (!isObject(button)) return refused("can't parse InlineKeyboardButton: InlineKeyboardButton must be an Object");
  if (typeof button['text'] !== 'string') return refused('can\'t parse InlineKeyboardButton: Field "text" must be of type String');
  if (button['text'].trim() === '') return refused('BUTTON_TEXT_INVALID');
  const data = button['callback_data'];
  const url = button['url'];
  if (data !== undefined) {
    if (typeof data !== 'string') return refused('can\'t parse InlineKeyboardButton: Field "callback_data" must be of type String');
    // An empty callback_data counts as none: the button would have no action.
    if (data === '') return refused("can't parse InlineKeyboardButton: Text buttons are not allowed in the inline keyboard");
    if (Buffer.byteLength(data) > MAX_CALLBACK_DATA_BYTES) return refused('BUTTON_DATA_INVALID');
    return { text: button['text'], callback_data: data };
  }
  if (url !== undefined) {
    if (typeof url !== 'string' || !/^(https?|tg):\/\/\S+$/i.test(url)) return refused('BUTTON_URL_INVALID');
    return { text: button['text'], url };
  }
  return refused("can't parse InlineKeyboardButton: Text buttons are not allowed in the inline keyboard");
}

/** The call's `reply_markup`, checked; `markup` is undefined when the call has none. */
export function checkReplyMarkup(params: Params): MarkupCheck {
  let value = params['reply_markup'];
  if (value === undefined) return { ok: true, markup: undefined };
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return refused("can't parse reply keyboard markup JSON object");
    }
  }
  if (!isObject(value)) return refused("can't parse reply keyboard markup JSON object");
  const rows = value['inline_keyboard'];
  if (rows === undefined) return { ok: true, markup: value };
  if (!Array.isArray(rows)) return refused('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array');
  const keyboard: FakeInlineButton[][] = [];
  let count = 0;
  for (const row of rows) {
    if (!Array.isArray(row)) return refused('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
    const checked: FakeInlineButton[] = [];
    for (const button of row) {
      const result = checkButton(button);
      if ('ok' in result) return result;
      checked.push(result);
    }
    count += checked.length;
    // The stored keyboard has no empty rows, and none at all without buttons (that clears it).
    if (checked.length > 0) keyboard.push(checked);
  }
  if (count > MAX_INLINE_BUTTONS) return refused('reply markup is too long');
  return { ok: true, markup: keyboard.length > 0 ? { inline_keyboard: keyboard } : undefined };
}
