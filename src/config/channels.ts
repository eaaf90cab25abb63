import { z } from 'zod';
import { checkWebchatSection, WEBCHAT } from '../channels/webchat/config.js';
import { durationSchema } from './duration-schema.js';

/**
 * `channels:`: one section per chat platform, each with its bot accounts. Core validates what
 * core acts on (transport, access policy, delivery, streaming); every other key (token,
 * api_root, webhook_secret, ...) passes through to the channel plugin, which checks its own.
 * A channel-level key is the default of each of its accounts.
 */

const duration = durationSchema;

const senderIdList = z.array(z.union([z.string().min(1), z.number().int()]).transform(String));
const senderIds = senderIdList.default([]);

const groupSchema = z
  .object({
    require_mention: z.boolean().optional(),
    /** Only these senders are answered in this group; empty: everyone. */
    allow_from: senderIds,
    /** false ignores the group entirely. */
    enabled: z.boolean().default(true),
  })
  .strict();

/** Access-policy and transport keys, valid on a channel (as defaults) and on each account. */
const accountKeys = {
  enabled: z.boolean().optional(),
  transport: z.enum(['polling', 'webhook']).optional(),
  dm_policy: z.enum(['open', 'allowlist', 'pairing', 'disabled']).optional(),
  /** Platform user ids answered in direct messages (allowlist and pairing); "*" allows anyone. */
  // No default here: an account without its own list inherits the channel's.
  allow_from: senderIdList.optional(),
  group_policy: z.enum(['open', 'allowlist', 'disabled']).optional(),
  /** Group (chat) ids, or "*" for any; with group_policy allowlist only these are answered. */
  groups: z.record(z.string(), groupSchema).optional(),
  /** Regular expressions that count as mentioning the bot in a group. */
  mention_patterns: z.array(z.string().min(1)).optional(),
  /** Answer other bots (a loop guard then limits each bot to 20 messages a minute per chat). */
  allow_bots: z.boolean().optional(),
  /** What happens to a send that may have reached the platform: held for an operator, or resent. */
  on_ambiguous: z.enum(['hold', 'resend']).optional(),
  /** Reply previews edited in place while the model writes (channels that can edit). */
  streaming: z.enum(['partial', 'off']).optional(),
};

const accountSchema = z.object(accountKeys).catchall(z.unknown());

const channelSchema = z
  .object({
    /** The plugin providing this channel; default: the plugin named like the channel. */
    plugin: z.string().min(1).optional(),
    accounts: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'an account name is 1-32 lower-case letters, digits, "-" or "_"'), accountSchema).default({}),
    ...accountKeys,
  })
  .catchall(z.unknown());

const defaultsSchema = z
  .object({
    delivery: z
      .object({
        /** Attempts of a delivery that fails transiently before it is dead. */
        max_attempts: z.number().int().positive().default(5),
        /** A platform asking to wait longer than this (429) kills the delivery with that reason. */
        max_rate_wait: duration('15m'),
        /** Deliveries sent at once by one node (each lane still one at a time). */
        concurrency: z.number().int().positive().default(16),
        /** How long a node may hold a delivery it is sending before another node takes it as stopped. */
        lease: duration('60s'),
      })
      .strict()
      .prefault({}),
    streaming: z
      .object({
        /** At most one preview edit per this interval (floor 250 ms). */
        throttle: duration('1s'),
        /** A preview is first sent once this much text exists (or after 1.5 s). */
        min_initial_chars: z.number().int().min(1).default(40),
      })
      .strict()
      .prefault({}),
    typing: z
      .object({
        /** Refresh interval of a typing indicator (Telegram shows one for about 5 s). */
        interval: duration('4s'),
        /** A typing indicator never runs longer than this. */
        max: duration('2m'),
      })
      .strict()
      .prefault({}),
    /** A polling account whose last successful poll is older than this is degraded in /ready. */
    poll_stale_after: duration('90s'),
    /** How long a node's lease on an account's poller lasts without renewal. */
    poller_lease: duration('15s'),
    pairing: z
      .object({
        ttl: duration('1h'),
        max_pending: z.number().int().positive().default(3),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const channelsSchema = z
  .object({ defaults: defaultsSchema })
  .catchall(channelSchema)
  .superRefine((channels, ctx) => {
    for (const key of Object.keys(channels)) {
      if (key !== 'defaults' && !/^[a-z][a-z0-9_-]{0,31}$/.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'a channel id is 1-32 lower-case letters, digits, "-" or "_", starting with a letter' });
    }
    // The web chat is built in, not a plugin: core checks its keys (pairing refused, origins required).
    const webchat = channels[WEBCHAT];
    if (webchat) checkWebchatSection(webchat as Record<string, unknown>, ctx);
  })
  .prefault({});

export type ChannelsConfig = z.output<typeof channelsSchema>;
export type ChannelSectionConfig = z.output<typeof channelSchema>;
export type ChannelDefaults = z.output<typeof defaultsSchema>;
