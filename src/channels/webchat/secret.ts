import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../../errors.js';

export const SECRET_FILE = 'webchat-secret';

export interface SecretSource {
  /** The account's `session_secret`, if configured. */
  configured: string | undefined;
  account: string;
  dataDir: string;
  /** Several nodes share a PostgreSQL store; each must verify the tokens the others sign. */
  shared: boolean;
  log: Logger;
}

/**
 * The key an account signs its session tokens with. Configured, it is used as is. On a single
 * node (SQLite) without one, a random key is made once and kept in <data_dir>/webchat-secret
 * (mode 0600), so visitors keep their sessions across restarts. On PostgreSQL it must be
 * configured: a key made on one node would not verify on the others.
 */
export function sessionSecret(source: SecretSource): string {
  if (source.configured !== undefined) return source.configured;
  if (source.shared) {
    throw new ConfigError(
      [`channels.webchat.accounts.${source.account}.session_secret = missing: required when the store is PostgreSQL, so every node verifies the same session tokens (a random key of at least 32 characters: openssl rand -base64 32)`],
      'pincer.config',
    );
  }
  return fileSecret(source.dataDir, source.log);
}

function fileSecret(dataDir: string, log: Logger): string {
  const file = path.join(dataDir, SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    // wx: two processes starting at once cannot both write one; the second reads the first's.
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    log.info({ event: 'webchat.secret_created', file }, `web chat: made a session secret in ${file} (set channels.webchat.accounts.<name>.session_secret to choose one)`);
  } catch (err) {
    // Already made (by an earlier start): read it. Any other failure is the data dir's.
    if (!existsSync(file)) throw err;
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) log.warn({ event: 'webchat.secret_exposed', file, mode: mode.toString(8) }, `web chat: ${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`);
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new ConfigError([`${file} holds a session secret shorter than 32 characters; delete it to have a new one made`], file);
  return secret;
}
