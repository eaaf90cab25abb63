import type { InboundEvent } from '../plugins/sdk.js';
import type { AccessPolicy, GroupRule } from './accounts.js';

/**
 * What core does with an inbound event, decided once for every channel in this order: echo,
 * bots, direct-message policy, group policy, mention. `record` keeps an unaddressed group
 * message as context for later turns without answering it; `pair` answers an unknown sender
 * with a pairing code instead.
 */
export type Disposition = { kind: 'answer' } | { kind: 'record' } | { kind: 'pair' } | { kind: 'drop'; reason: DropReason };

export type DropReason = 'echo' | 'bot' | 'bot_loop' | 'dm_disabled' | 'dm_not_allowed' | 'group_disabled' | 'group_not_allowed' | 'sender_not_allowed';

export interface PolicyFacts {
  /** The sender was approved by pairing for this account. */
  approved: boolean;
  /** The loop guard (allow_bots) says this bot has said too much in this chat lately. */
  botLoop: boolean;
}

function listed(list: readonly string[], id: string): boolean {
  return list.includes('*') || list.includes(id);
}

function groupRule(policy: AccessPolicy, groupId: string): GroupRule | undefined {
  return policy.groups.get(groupId) ?? policy.groups.get('*');
}

function addressed(event: InboundEvent, policy: AccessPolicy): boolean {
  if (event.mentions.bot || event.mentions.replyToBot === true) return true;
  // A command or a button press in a group is meant for a bot; the adapter has already
  // dropped commands addressed to another bot ("/cmd@otherbot").
  if (event.kind === 'command' || event.kind === 'action') return true;
  return policy.mentionPatterns.some((pattern) => pattern.test(event.text));
}

export function decide(event: InboundEvent, policy: AccessPolicy, facts: PolicyFacts): Disposition {
  if (event.fromSelf === true) return { kind: 'drop', reason: 'echo' };
  if (event.sender.isBot) {
    if (!policy.allowBots) return { kind: 'drop', reason: 'bot' };
    if (facts.botLoop) return { kind: 'drop', reason: 'bot_loop' };
  }
  if (event.conversation.kind === 'direct') {
    switch (policy.dmPolicy) {
      case 'disabled':
        return { kind: 'drop', reason: 'dm_disabled' };
      case 'open':
        return { kind: 'answer' };
      case 'allowlist':
        return listed(policy.allowFrom, event.sender.id) || facts.approved ? { kind: 'answer' } : { kind: 'drop', reason: 'dm_not_allowed' };
      case 'pairing':
        return listed(policy.allowFrom, event.sender.id) || facts.approved ? { kind: 'answer' } : { kind: 'pair' };
    }
  }
  if (policy.groupPolicy === 'disabled') return { kind: 'drop', reason: 'group_disabled' };
  const rule = groupRule(policy, event.conversation.id);
  if (rule && !rule.enabled) return { kind: 'drop', reason: 'group_not_allowed' };
  if (policy.groupPolicy === 'allowlist' && !rule) return { kind: 'drop', reason: 'group_not_allowed' };
  if (rule && rule.allowFrom.length > 0 && !listed(rule.allowFrom, event.sender.id)) return { kind: 'drop', reason: 'sender_not_allowed' };
  const requireMention = rule?.requireMention ?? true;
  return !requireMention || addressed(event, policy) ? { kind: 'answer' } : { kind: 'record' };
}

/**
 * With allow_bots on, two bots can answer each other forever. Each (bot, chat) pair may pass
 * `limit` events per `windowMs`; past that it is ignored for `cooldownMs`.
 */
export class BotLoopGuard {
  private readonly seen = new Map<string, { times: number[]; quietUntil: number }>();

  constructor(
    private readonly now: () => number,
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly cooldownMs = 60_000,
  ) {}

  /** Count one event; true when this pair is over its budget. */
  tooMany(key: string): boolean {
    const now = this.now();
    const entry = this.seen.get(key) ?? { times: [], quietUntil: 0 };
    this.seen.set(key, entry);
    if (now < entry.quietUntil) return true;
    entry.times = entry.times.filter((t) => now - t < this.windowMs);
    entry.times.push(now);
    if (entry.times.length > this.limit) {
      entry.quietUntil = now + this.cooldownMs;
      entry.times = [];
      return true;
    }
    if (this.seen.size > 10_000) this.forgetIdle(now);
    return false;
  }

  private forgetIdle(now: number): void {
    for (const [key, entry] of this.seen) if (entry.quietUntil < now && entry.times.every((t) => now - t >= this.windowMs)) this.seen.delete(key);
  }
}
