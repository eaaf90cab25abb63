import type { ChannelSectionConfig, ChannelsConfig } from '../config/channels.js';
import type { JsonObject } from '../json.js';
import type { ChannelAccount } from '../plugins/sdk.js';

export type DmPolicy = 'open' | 'allowlist' | 'pairing' | 'disabled';
export type GroupPolicy = 'open' | 'allowlist' | 'disabled';

export interface GroupRule {
  requireMention: boolean;
  allowFrom: readonly string[];
  enabled: boolean;
}

/** Who an account answers; decided once in core for every channel (policy.ts). */
export interface AccessPolicy {
  dmPolicy: DmPolicy;
  allowFrom: readonly string[];
  groupPolicy: GroupPolicy;
  /** By group id; "*" is any group without its own entry. */
  groups: ReadonlyMap<string, GroupRule>;
  mentionPatterns: readonly RegExp[];
  allowBots: boolean;
}

/** One configured bot account, everything core needs to run it. */
export interface ResolvedAccount {
  channel: string;
  id: string;
  /** The plugin expected to register the channel. */
  plugin: string;
  enabled: boolean;
  /** Absent: the channel's first transport. */
  transport: 'polling' | 'webhook' | undefined;
  policy: AccessPolicy;
  onAmbiguous: 'hold' | 'resend' | undefined;
  streaming: 'partial' | 'off';
  /** What the plugin sees: every key of the channel section merged with the account's. */
  account: ChannelAccount;
}

const CORE_KEYS = new Set(['plugin', 'accounts']);

/** `(?i)` is how other tools write a case-insensitive pattern; JavaScript takes it as a flag. */
function mentionPattern(source: string): RegExp {
  return source.startsWith('(?i)') ? new RegExp(source.slice(4), 'i') : new RegExp(source);
}

function resolveOne(channel: string, section: ChannelSectionConfig, id: string, own: Record<string, unknown>): ResolvedAccount {
  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) if (!CORE_KEYS.has(key) && value !== undefined) merged[key] = value;
  for (const [key, value] of Object.entries(own)) if (value !== undefined) merged[key] = value;
  const groups = new Map<string, GroupRule>();
  const configuredGroups = (merged.groups ?? {}) as Record<string, { require_mention?: boolean; allow_from: string[]; enabled: boolean }>;
  for (const [group, rule] of Object.entries(configuredGroups)) {
    groups.set(group, { requireMention: rule.require_mention ?? true, allowFrom: rule.allow_from, enabled: rule.enabled });
  }
  const policy: AccessPolicy = {
    dmPolicy: (merged.dm_policy as DmPolicy | undefined) ?? 'pairing',
    allowFrom: (merged.allow_from as string[] | undefined) ?? [],
    groupPolicy: (merged.group_policy as GroupPolicy | undefined) ?? 'allowlist',
    groups,
    mentionPatterns: ((merged.mention_patterns as string[] | undefined) ?? []).map(mentionPattern),
    allowBots: merged.allow_bots === true,
  };
  return {
    channel,
    id,
    plugin: section.plugin ?? channel,
    enabled: merged.enabled !== false,
    transport: merged.transport as ResolvedAccount['transport'],
    policy,
    onAmbiguous: merged.on_ambiguous as ResolvedAccount['onAmbiguous'],
    streaming: (merged.streaming as 'partial' | 'off' | undefined) ?? 'partial',
    account: { id, config: merged as JsonObject },
  };
}

/** Every account of every configured channel, in config order. */
export function resolveAccounts(channels: ChannelsConfig): ResolvedAccount[] {
  const out: ResolvedAccount[] = [];
  for (const [channel, section] of Object.entries(channels)) {
    if (channel === 'defaults') continue;
    const typed = section as ChannelSectionConfig;
    for (const [id, own] of Object.entries(typed.accounts)) out.push(resolveOne(channel, typed, id, own));
  }
  return out;
}

/** Plugins that start because a channel of theirs has an enabled account (plugins.enabled need not list them). */
export function channelPlugins(channels: ChannelsConfig): string[] {
  // The web chat is core's own (webchat/): no plugin to start.
  return [...new Set(resolveAccounts(channels).filter((a) => a.enabled && a.channel !== 'webchat').map((a) => a.plugin))];
}

export function accountKey(channel: string, account: string): string {
  return `${channel}:${account}`;
}
