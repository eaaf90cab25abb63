import { randomInt } from 'node:crypto';

/** No 0/O or 1/I: a code is read off a phone and typed into a terminal. */
export const PAIRING_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const PAIRING_CODE_LENGTH = 8;

export function pairingCode(): string {
  let code = '';
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) code += PAIRING_ALPHABET[randomInt(PAIRING_ALPHABET.length)];
  return code;
}

export function isPairingCode(value: string): boolean {
  return value.length === PAIRING_CODE_LENGTH && [...value.toUpperCase()].every((c) => PAIRING_ALPHABET.includes(c));
}

export function pairingText(botName: string, channel: string, code: string): string {
  return [
    `${botName} does not know you yet. Your pairing code is **${code}**.`,
    `Ask the bot's operator to run \`pincer pairing approve ${channel} ${code}\`; the code expires in an hour.`,
  ].join('\n\n');
}
