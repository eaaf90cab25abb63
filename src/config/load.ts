import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type PincerConfig } from './schema.js';

export const CONFIG_FILES = ['pincer.config.yaml', 'pincer.config.yml', 'pincer.config.json'];

/** Short names from PRODUCT.md; every other key is reachable as PINCER_<PATH_IN_CAPS>. */
const ENV_ALIASES: Record<string, string> = {
  PINCER_HOST: 'server.host',
  PINCER_PORT: 'server.port',
  PINCER_API_TOKENS: 'auth.tokens',
  PINCER_ADMIN_TOKENS: 'auth.admin_tokens',
  PINCER_STORE: 'store',
  PINCER_DATA_DIR: 'data_dir',
  PINCER_LOG_LEVEL: 'log.level',
  PINCER_CONCURRENCY: 'workers.concurrency',
  // Setting it is enough to connect a Telegram bot: it creates the default account.
  TELEGRAM_BOT_TOKEN: 'channels.telegram.accounts.default.token',
  DISCORD_TOKEN: 'channels.discord.accounts.default.token',
  MATRIX_ACCESS_TOKEN: 'channels.matrix.accounts.default.access_token',
  WHATSAPP_ACCESS_TOKEN: 'channels.whatsapp.accounts.default.access_token',
  WHATSAPP_APP_SECRET: 'channels.whatsapp.accounts.default.app_secret',
  SLACK_BOT_TOKEN: 'channels.slack.accounts.default.token',
  SLACK_SIGNING_SECRET: 'channels.slack.accounts.default.signing_secret',
  SLACK_APP_TOKEN: 'channels.slack.accounts.default.app_token',
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface LoadConfigOptions {
  /** Explicit config file; otherwise PINCER_CONFIG, then pincer.config.{yaml,yml,json} in cwd. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (tests, embedding). */
  overrides?: JsonObject;
}

export interface LoadedConfig {
  config: PincerConfig;
  /** The file read, if any. */
  file: string | undefined;
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = resolveConfigFile(cwd, options.file ?? env.PINCER_CONFIG);
  const sources = new Map<string, string>();

  const raw: JsonObject = file ? readConfigFile(file) : {};
  for (const leaf of leaves(raw)) sources.set(leaf, path.basename(file as string));

  applyEnv(raw, env, sources);
  if (options.overrides) mergeInto(raw, options.overrides);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const where = [file ? path.basename(file) : undefined, 'environment'].filter(Boolean).join(' + ');
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, raw, sources)), where);
  }
  const config = result.data;
  config.data_dir = path.resolve(cwd, config.data_dir);
  config.plugins.root = path.resolve(cwd, config.plugins.root);
  config.store ??= `sqlite:${path.join(config.data_dir, 'pincer.db')}`;
  return { config, file };
}

function resolveConfigFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit) {
    const full = path.resolve(cwd, explicit);
    if (!existsSync(full)) throw new ConfigError([`config file ${full} does not exist`], 'command line');
    return full;
  }
  for (const name of CONFIG_FILES) {
    const full = path.join(cwd, name);
    if (existsSync(full)) return full;
  }
  return undefined;
}

function readConfigFile(file: string): JsonObject {
  const text = readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([`cannot parse: ${(err as Error).message}`], path.basename(file));
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(['the top level must be a mapping of keys to values'], path.basename(file));
  }
  return parsed as JsonObject;
}

/** Numeric keys without a default, which the defaults cannot name: the environment still reaches them. */
const OPTIONAL_NUMBERS: readonly string[] = ['models.temperature', 'models.max_tokens', 'kb.vector_weight'];
/** Keys without a default that the environment may still set (their default is derived at run time). */
const OPTIONAL_STRINGS: readonly string[] = ['store', 'kb.dir'];

/** Environment names for every key the schema knows, derived from its defaults. */
export function envNames(): Map<string, string> {
  const names = new Map<string, string>();
  const defaults = configSchema.parse({}) as unknown as JsonObject;
  for (const leaf of [...leaves(defaults), ...OPTIONAL_STRINGS, ...OPTIONAL_NUMBERS]) {
    names.set('PINCER_' + leaf.replace(/\./g, '_').toUpperCase(), leaf);
  }
  for (const [name, leaf] of Object.entries(ENV_ALIASES)) names.set(name, leaf);
  return names;
}

function applyEnv(raw: JsonObject, env: NodeJS.ProcessEnv, sources: Map<string, string>): void {
  const defaults = configSchema.parse({}) as unknown as JsonObject;
  for (const [name, leaf] of envNames()) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, leaf, coerceEnv(value, getPath(defaults, leaf) ?? (OPTIONAL_NUMBERS.includes(leaf) ? 0 : undefined)));
    sources.set(leaf, name);
  }
}

/** Environment values are strings; shape them like the key's default so the schema can judge them. */
function coerceEnv(value: string, like: Json | undefined): Json {
  if (Array.isArray(like)) return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (typeof like === 'number' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  if (typeof like === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(value)) return true;
    if (/^(false|0|no|off)$/i.test(value)) return false;
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, raw: JsonObject, sources: Map<string, string>): string {
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const prefix = key ? `${key}.` : '';
    return `${issue.keys.map((k) => prefix + k).join(', ')}: unknown key${issue.keys.length > 1 ? 's' : ''} (check the spelling; see docs/configuration.md)`;
  }
  const value = getPath(raw, key);
  const source = sources.get(key);
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  return `${key} = ${shown}${source ? ` (from ${source})` : ''}: ${expectation(issue)}`;
}

function expectation(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  const what = issue.code === 'too_small' || issue.code === 'too_big' ? (issue.origin === 'string' ? 'a length' : issue.origin === 'array' ? 'a count' : 'a value') : '';
  if (issue.code === 'too_small') return `expected ${what} ${issue.inclusive === false ? 'greater than' : 'of at least'} ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `expected ${what} ${issue.inclusive === false ? 'less than' : 'of at most'} ${String(issue.maximum)}`;
  if (issue.code === 'invalid_union') return 'expected a duration: seconds as a number, or a string like "500ms", "5s", "10m"';
  return issue.message;
}

function leaves(obj: JsonObject, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const full = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) out.push(...leaves(value, full));
    else out.push(full);
  }
  return out;
}

function getPath(obj: JsonObject, dotted: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function setPath(obj: JsonObject, dotted: string, value: Json): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as JsonObject;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function mergeInto(target: JsonObject, source: JsonObject): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && existing !== null && typeof existing === 'object' && !Array.isArray(existing)) {
      mergeInto(existing, value);
    } else {
      target[key] = value;
    }
  }
}
