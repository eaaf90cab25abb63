/**
 * Plain-text layouts the channels share where a platform has no markup for a thing: a table
 * as aligned columns (then put in the platform's code block), a list as marked lines, and the
 * error a channel's settings throw.
 */
import { ChannelError } from '../../plugins/sdk.js';

/** A table's rows as aligned text: columns padded by code point, a rule under the header. */
export function textTable(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => [...(row[col] ?? '')].length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, col) => cell + ' '.repeat(Math.max(0, (widths[col] ?? 0) - [...cell].length)))
      .join(' | ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(Math.max(1, w))).join('-+-');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export const CHANNEL_ACCOUNT_INVALID = 'CHANNEL_ACCOUNT_INVALID';

/** A channel account's setting cannot work; the message names the key (`channels.<id>.accounts.<name>.<key>`). */
export class ChannelSettingsError extends Error {
  readonly code = CHANNEL_ACCOUNT_INVALID;
  constructor(message: string) {
    super(message);
    this.name = 'ChannelSettingsError';
  }
}

/** A quote as `> ` lines (Discord, Slack): a quote inside a quote is the same quote. */
export function quoteLines(inner: string): string {
  return inner
    .split('\n')
    .map((line) => `> ${line.replace(/^(> )+/, '')}`)
    .join('\n');
}

/**
 * Settings read for a platform call: a setting that cannot work fails the call as permanent
 * (retrying cannot help until the operator fixes it), and the dead letter names the key.
 */
export function settingsForCall<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ChannelSettingsError) throw new ChannelError('permanent', error.message);
    throw error;
  }
}
