import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';

/** The channel id of the web chat: messages from it carry `channel: "webchat"`. */
export const WEBCHAT = 'webchat';

/**
 * Origins as a browser sends them in `Origin`: scheme, host and port only. Written any other
 * way ("https://shop.example/", a path) one would never match, so it is refused at start-up.
 * Checked as a list, so the error shows the value as written.
 */
function originProblem(value: string): string | undefined {
  if (value === '*') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return `"${value}" is not an origin: write one like "https://shop.example" (scheme, host and port), or "*"`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `"${value}" is not an http or https origin`;
  if (parsed.origin !== value) return `"${value}" is not written as browsers send an origin: write "${parsed.origin}"`;
  return undefined;
}

const origins = z
  .array(z.string())
  .min(1)
  .superRefine((list, ctx) => {
    for (const value of list) {
      const problem = originProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }
  });

const duration = (fallback: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 60_000) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration of at least a minute: seconds as a number, or a string like "30m", "24h", "7d"' });
        return z.NEVER;
      }
      return ms;
    });

export interface Rate {
  limit: number;
  intervalMs: number;
}

const RATE_UNITS: Record<string, number> = { s: 1_000, sec: 1_000, second: 1_000, min: 60_000, minute: 60_000 };

/**
 * "10/min", "2/s". Per second or minute only: the rate scheduler forgets windows idle for ten
 * minutes when it holds very many, which a longer window would turn into a looser limit.
 */
export function parseRate(value: string): Rate | undefined {
  const match = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/.exec(value);
  const unit = match ? RATE_UNITS[match[2] as string] : undefined;
  const limit = Number(match?.[1]);
  if (unit === undefined || !Number.isInteger(limit) || limit < 1) return undefined;
  return { limit, intervalMs: unit };
}

const rate = z
  .string()
  .default('10/min')
  .transform((value, ctx) => {
    const parsed = parseRate(value);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: 'expected messages per second or minute, like "10/min" or "1/s"' });
      return z.NEVER;
    }
    return parsed;
  });

const dmPolicy = z
  .enum(['open', 'allowlist', 'pairing', 'disabled'])
  .default('open')
  .refine((policy) => policy !== 'pairing', {
    message: 'pairing cannot work for anonymous web visitors (a code an operator approves for someone who has no account); use open (the default), allowlist or disabled',
  })
  .transform((policy) => policy as 'open' | 'allowlist' | 'disabled');

/**
 * One web chat account's settings (the channel section's keys merged with the account's). The
 * web chat is built into core, so core checks every key: an unknown one is a typo, refused.
 */
export const webchatSettingsSchema = z
  .object({
    enabled: z.boolean().optional(),
    /** Pages allowed to embed the widget, exact origins; "*" lets any page (for testing only). */
    allowed_origins: origins,
    /** HMAC key of the session tokens; the same on every node. */
    session_secret: z.string().min(32).optional(),
    /** How long a session token lasts; renewing a valid one keeps the visitor's conversation. */
    session_ttl: duration('24h'),
    /** Messages a visitor may send, per second or per minute. */
    rate,
    title: z.string().min(1).max(100).default('Chat'),
    greeting: z.string().max(2_000).optional(),
    dm_policy: dmPolicy,
    /** Visitor ids answered under dm_policy allowlist. */
    allow_from: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type WebchatSettings = z.output<typeof webchatSettingsSchema>;

/** Keys of a channel section that are not settings of its accounts. */
const SECTION_ONLY = new Set(['accounts']);

type IssueSink = Pick<z.core.$RefinementCtx, 'addIssue'>;
type Issue = Parameters<IssueSink['addIssue']>[0] & object;

/**
 * Checks `channels.webchat` for the config loader: each account's settings merged with the
 * section's, each issue reported where its key is written (the account, or the section when it
 * is the section's default), once.
 */
export function checkWebchatSection(section: Record<string, unknown>, ctx: IssueSink): void {
  const shared: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) if (!SECTION_ONLY.has(key) && value !== undefined) shared[key] = value;
  if ('plugin' in shared) {
    ctx.addIssue({ code: 'custom', path: [WEBCHAT, 'plugin'], message: 'the web chat is built into Pincer and has no plugin; remove this key' });
    delete shared.plugin;
  }
  const accounts = (section.accounts ?? {}) as Record<string, Record<string, unknown>>;
  const reported = new Set<string>();
  for (const [name, own] of Object.entries(accounts)) {
    const mine: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(own)) if (value !== undefined) mine[key] = value;
    const result = webchatSettingsSchema.safeParse({ ...shared, ...mine });
    if (result.success) continue;
    const report = (issue: Issue, key: PropertyKey | undefined, rest: PropertyKey[]) => {
      const atSection = typeof key === 'string' && !(key in mine) && key in shared;
      const where = atSection ? [WEBCHAT, ...rest] : [WEBCHAT, 'accounts', name, ...rest];
      const id = `${where.join('.')}:${issue.code}:${issue.message ?? ''}`;
      if (reported.has(id)) return;
      reported.add(id);
      ctx.addIssue({ ...issue, path: where });
    };
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys' && issue.path.length === 0) {
        // Each unknown key where it is written.
        for (const key of issue.keys) report({ ...issue, keys: [key] } as Issue, key, []);
      } else {
        report(issue as Issue, issue.path[0], issue.path);
      }
    }
  }
}

/** An account's settings as resolved (already checked by the config loader, so this does not fail on a loaded config). */
export function webchatSettings(config: Record<string, unknown>): WebchatSettings {
  return webchatSettingsSchema.parse(config);
}
