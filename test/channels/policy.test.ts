import { describe, expect, it } from 'vitest';
import { resolveAccounts } from '../../src/channels/accounts.js';
import { BotLoopGuard, decide } from '../../src/channels/policy.js';
import { channelsSchema } from '../../src/config/channels.js';
import type { InboundEvent } from '../../src/plugins/sdk.js';

function policyOf(account: Record<string, unknown>) {
  const [resolved] = resolveAccounts(channelsSchema.parse({ telegram: { accounts: { default: account } } }));
  return resolved!.policy;
}

function event(over: Partial<InboundEvent> & { kind?: InboundEvent['kind'] } = {}): InboundEvent {
  return {
    eventId: '1',
    messageId: '10',
    kind: 'message',
    conversation: { kind: 'direct', id: '42' },
    sender: { id: '42', isBot: false },
    text: 'hello',
    mentions: { bot: false },
    timestamp: 0,
    ...over,
  };
}

const stranger = { approved: false, botLoop: false };
const group = (over: Partial<InboundEvent> = {}) => event({ conversation: { kind: 'group', id: '-100' }, ...over });

describe('access policy', () => {
  it('defaults to pairing for direct messages and an allowlist of groups', () => {
    const policy = policyOf({});
    expect(decide(event(), policy, stranger)).toEqual({ kind: 'pair' });
    expect(decide(event(), policy, { approved: true, botLoop: false })).toEqual({ kind: 'answer' });
    expect(decide(group({ mentions: { bot: true } }), policy, stranger)).toEqual({ kind: 'drop', reason: 'group_not_allowed' });
  });

  it('answers allow_from senders without pairing, and "*" means anyone', () => {
    expect(decide(event(), policyOf({ allow_from: [42] }), stranger)).toEqual({ kind: 'answer' });
    expect(decide(event(), policyOf({ dm_policy: 'allowlist', allow_from: ['*'] }), stranger)).toEqual({ kind: 'answer' });
    expect(decide(event(), policyOf({ dm_policy: 'allowlist', allow_from: ['7'] }), stranger)).toEqual({ kind: 'drop', reason: 'dm_not_allowed' });
    expect(decide(event(), policyOf({ dm_policy: 'disabled', allow_from: ['42'] }), stranger)).toEqual({ kind: 'drop', reason: 'dm_disabled' });
    expect(decide(event(), policyOf({ dm_policy: 'open' }), stranger)).toEqual({ kind: 'answer' });
  });

  it('records an unmentioned group message and answers a mention, a reply to the bot, a command or a pattern', () => {
    const policy = policyOf({ groups: { '*': { require_mention: true } }, mention_patterns: ['(?i)\\bpincer\\b'] });
    expect(decide(group(), policy, stranger)).toEqual({ kind: 'record' });
    expect(decide(group({ mentions: { bot: true } }), policy, stranger)).toEqual({ kind: 'answer' });
    expect(decide(group({ mentions: { bot: false, replyToBot: true } }), policy, stranger)).toEqual({ kind: 'answer' });
    expect(decide(group({ kind: 'command', text: '/help' }), policy, stranger)).toEqual({ kind: 'answer' });
    expect(decide(group({ text: 'hey PINCER, hi' }), policy, stranger)).toEqual({ kind: 'answer' });
  });

  it('lets a group entry drop the mention rule, restrict senders or switch the group off', () => {
    const policy = policyOf({ groups: { '-100': { require_mention: false, allow_from: ['5'] }, '-200': { enabled: false }, '*': {} } });
    expect(decide(group({ sender: { id: '5', isBot: false } }), policy, stranger)).toEqual({ kind: 'answer' });
    expect(decide(group({ sender: { id: '6', isBot: false } }), policy, stranger)).toEqual({ kind: 'drop', reason: 'sender_not_allowed' });
    expect(decide(event({ conversation: { kind: 'group', id: '-200' }, mentions: { bot: true } }), policy, stranger)).toEqual({ kind: 'drop', reason: 'group_not_allowed' });
    expect(decide(event({ conversation: { kind: 'group', id: '-300' } }), policy, stranger)).toEqual({ kind: 'record' });
    expect(decide(group({ mentions: { bot: true } }), policyOf({ group_policy: 'disabled', groups: { '*': {} } }), stranger)).toEqual({ kind: 'drop', reason: 'group_disabled' });
    expect(decide(group({ mentions: { bot: true } }), policyOf({ group_policy: 'open' }), stranger)).toEqual({ kind: 'answer' });
  });

  it('drops echoes always and bots unless allowed, then guards against loops', () => {
    const open = policyOf({ dm_policy: 'open' });
    expect(decide(event({ fromSelf: true }), open, stranger)).toEqual({ kind: 'drop', reason: 'echo' });
    expect(decide(event({ sender: { id: '9', isBot: true } }), open, stranger)).toEqual({ kind: 'drop', reason: 'bot' });
    const bots = policyOf({ dm_policy: 'open', allow_bots: true });
    expect(decide(event({ sender: { id: '9', isBot: true } }), bots, stranger)).toEqual({ kind: 'answer' });
    expect(decide(event({ sender: { id: '9', isBot: true } }), bots, { approved: false, botLoop: true })).toEqual({ kind: 'drop', reason: 'bot_loop' });
  });
});

describe('bot loop guard', () => {
  it('lets 20 events a minute through per pair, then goes quiet for a minute', () => {
    let now = 0;
    const guard = new BotLoopGuard(() => now);
    for (let i = 0; i < 20; i++) expect(guard.tooMany('a')).toBe(false);
    expect(guard.tooMany('a')).toBe(true);
    expect(guard.tooMany('b')).toBe(false);
    now += 30_000;
    expect(guard.tooMany('a')).toBe(true);
    now += 31_000;
    expect(guard.tooMany('a')).toBe(false);
  });
});

describe('account settings', () => {
  it("an account inherits its channel's allow_from and may replace it", () => {
    const accounts = resolveAccounts(channelsSchema.parse({ telegram: { allow_from: [1, '2'], accounts: { a: {}, b: { allow_from: ['3'] } } } }));
    expect(accounts.map((a) => [a.id, a.policy.allowFrom])).toEqual([
      ['a', ['1', '2']],
      ['b', ['3']],
    ]);
  });
});
