/**
 * Reply buttons as Discord message components: action rows of at most 5 buttons, at most 5
 * rows, each button's `custom_id` (at most 100 characters, unique in the message) being the
 * button's value, so a press comes back with that value (interactions.ts). Discord refuses a
 * whole message (400, 50035) over one bad button, so what does not fit is left off here.
 */
import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIButtonComponentWithCustomId } from 'discord-api-types/v10';
import type { JsonObject, ReplyButton } from 'pincer/plugin';

export const MAX_ROWS = 5;
export const MAX_PER_ROW = 5;
export const MAX_CUSTOM_ID = 100;
export const MAX_LABEL = 80;

export type ButtonRow = APIActionRowComponent<APIButtonComponentWithCustomId>;

function label(text: string): string {
  const trimmed = text.trim();
  const chars = [...trimmed];
  return chars.length <= MAX_LABEL ? trimmed : `${chars.slice(0, MAX_LABEL - 1).join('')}…`;
}

export interface Built {
  rows: ButtonRow[];
  /** Buttons left off, with why (logged by the caller). */
  skipped: Array<{ value: string; reason: string }>;
}

export function buttonRows(buttons: readonly ReplyButton[]): Built {
  const seen = new Set<string>();
  const kept: APIButtonComponentWithCustomId[] = [];
  const skipped: Built['skipped'] = [];
  for (const button of buttons) {
    const reason =
      button.value.length === 0 || button.value.length > MAX_CUSTOM_ID
        ? `a custom_id is 1-${MAX_CUSTOM_ID} characters`
        : seen.has(button.value)
          ? 'another button has the same value (custom_id must be unique)'
          : label(button.label) === ''
            ? 'the label is empty'
            : kept.length >= MAX_ROWS * MAX_PER_ROW
              ? `at most ${MAX_ROWS * MAX_PER_ROW} buttons`
              : undefined;
    if (reason !== undefined) {
      skipped.push({ value: button.value, reason });
      continue;
    }
    seen.add(button.value);
    // Secondary (grey) for every button: a reply's buttons are choices, none is "the" action.
    kept.push({ type: ComponentType.Button, style: ButtonStyle.Secondary, label: label(button.label), custom_id: button.value });
  }
  const rows: ButtonRow[] = [];
  for (let i = 0; i < kept.length; i += MAX_PER_ROW) rows.push({ type: ComponentType.ActionRow, components: kept.slice(i, i + MAX_PER_ROW) });
  return { rows, skipped };
}

/** The components a part carries in its `extra` (set by plan), or undefined. */
export function componentsOf(extra: JsonObject | undefined): ButtonRow[] | undefined {
  const value = extra?.['components'];
  return Array.isArray(value) && value.length > 0 ? (value as unknown as ButtonRow[]) : undefined;
}
