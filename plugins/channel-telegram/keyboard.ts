/**
 * Reply buttons as a Telegram inline keyboard: each button's `callback_data` is its value, so
 * a press comes back as a callback_query with that value (parse.ts). Telegram refuses the
 * whole message (400 BUTTON_DATA_INVALID, BUTTON_TEXT_INVALID) over one bad button, so what
 * does not fit is left off here rather than losing the reply.
 *
 * Rows share the chat's width equally and a label that does not fit is cut with "…" by the
 * app, so short labels are put side by side and long ones get a row of their own.
 */
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'grammy/types';
import type { JsonObject, ReplyButton } from 'pincer/plugin';

/** Telegram's callback_data limit, in bytes (UTF-8). */
export const MAX_CALLBACK_DATA = 64;
/** Buttons Telegram shows in one row. */
export const MAX_PER_ROW = 8;
/** Buttons in one keyboard ("reply markup is too long" past it). */
export const MAX_BUTTONS = 100;
/**
 * Characters of labels a row holds before a phone cuts them, counting each button's padding
 * as a few characters more: "Yes" and "No" share a row, two sentences do not.
 */
export const ROW_WIDTH = 32;
const PADDING = 3;

export interface Keyboard {
  /** Undefined when no button was kept. */
  markup: InlineKeyboardMarkup | undefined;
  /** Buttons left off, with why (logged by the caller). */
  skipped: Array<{ value: string; reason: string }>;
}

type CallbackButton = InlineKeyboardButton.CallbackButton;

const widthOf = (button: CallbackButton): number => [...button.text].length + PADDING;

export function inlineKeyboard(buttons: readonly ReplyButton[]): Keyboard {
  const kept: CallbackButton[] = [];
  const skipped: Keyboard['skipped'] = [];
  for (const button of buttons) {
    const text = button.label.trim();
    const bytes = Buffer.byteLength(button.value);
    const reason =
      bytes === 0 || bytes > MAX_CALLBACK_DATA
        ? `callback_data is 1-${MAX_CALLBACK_DATA} bytes, this value is ${bytes}`
        : text === ''
          ? 'the label is empty'
          : kept.length >= MAX_BUTTONS
            ? `at most ${MAX_BUTTONS} buttons`
            : undefined;
    if (reason !== undefined) skipped.push({ value: button.value, reason });
    else kept.push({ text, callback_data: button.value });
  }
  if (kept.length === 0) return { markup: undefined, skipped };
  const rows: CallbackButton[][] = [];
  let row: CallbackButton[] = [];
  let width = 0;
  for (const button of kept) {
    if (row.length > 0 && (row.length >= MAX_PER_ROW || width + widthOf(button) > ROW_WIDTH)) {
      rows.push(row);
      row = [];
      width = 0;
    }
    row.push(button);
    width += widthOf(button);
  }
  rows.push(row);
  return { markup: { inline_keyboard: rows }, skipped };
}

/** The keyboard a part carries in its `extra` (set by plan), or undefined. */
export function markupOf(extra: JsonObject | undefined): InlineKeyboardMarkup | undefined {
  const value = extra?.['reply_markup'];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const rows = (value as { inline_keyboard?: unknown }).inline_keyboard;
  return Array.isArray(rows) && rows.length > 0 ? (value as unknown as InlineKeyboardMarkup) : undefined;
}
