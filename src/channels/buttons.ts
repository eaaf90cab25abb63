import { z } from 'zod';
import type { JsonObject } from '../json.js';
import type { PlanExtras, ReplyButton } from '../plugins/sdk.js';

/**
 * The buttons a plugin put under its reply (`reply.data.buttons`). A plugin is third-party
 * code: buttons that do not fit the contract are left off (and the reason returned to be
 * logged), never the reply itself.
 */

export const MAX_BUTTONS = 10;
/** Telegram's callback_data limit, the smallest of the platforms. */
export const MAX_VALUE_BYTES = 64;

const button = z.object({
  label: z.string().trim().min(1).max(80),
  value: z
    .string()
    .min(1)
    .refine((v) => Buffer.byteLength(v) <= MAX_VALUE_BYTES, `is over ${MAX_VALUE_BYTES} bytes`),
});
const buttons = z.array(button).min(1).max(MAX_BUTTONS);

export type ReplyButtons = { buttons?: ReplyButton[]; problem?: string };

export function replyButtons(data: JsonObject | undefined): ReplyButtons {
  const value = data?.['buttons'];
  if (value === undefined || value === null) return {};
  const parsed = buttons.safeParse(value);
  if (parsed.success) return { buttons: parsed.data.map((b) => ({ label: b.label, value: b.value })) };
  const issue = parsed.error.issues[0];
  return { problem: `reply.data.buttons${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}` };
}

/** The extras a stored delivery body carries into a later `plan` (the worker re-renders). */
export function bodyExtras(body: JsonObject): PlanExtras {
  const { buttons: stored } = replyButtons(body);
  return stored ? { buttons: stored } : {};
}
