import type { Logger } from 'pino';
import { PincerError } from '../errors.js';
import type { ChannelStore, DeliveryInsert, EnqueueResult, WorkQueue } from '../store/types.js';
import { timeOrderedId } from '../store/ids.js';
import type { InboundEvent } from '../plugins/sdk.js';
import type { ResolvedAccount } from './accounts.js';
import { conversationIdOf, idempotencyKeyOf, senderOf } from './ids.js';
import { channelMetadata, checkEvent, pipelineText } from './inbound.js';
import type { ChannelMetrics } from './metrics.js';
import { pairingCode, pairingText } from './pairing.js';
import { BotLoopGuard, decide, type Disposition } from './policy.js';

export interface IngressDeps {
  work: WorkQueue;
  channels: ChannelStore;
  metrics: ChannelMetrics;
  log: Logger;
  now: () => number;
  botName: string;
  maxTextLength: number;
  pairing: { ttlMs: number; maxPending: number };
}

export interface IngestedEvent {
  eventId: string;
  disposition: Disposition['kind'] | 'invalid';
  messageId?: string;
  duplicate?: boolean;
}

/**
 * The one receive path of every transport: check, decide by policy, commit. It resolves only
 * after everything it accepted is committed, so the caller may ack the platform then; a store
 * failure (or a full queue) rejects, so the platform keeps the events and sends them again.
 * One bad event is counted and skipped: it can never succeed, and must not block the rest.
 */
export class ChannelIngress {
  private readonly loops: BotLoopGuard;

  constructor(private readonly deps: IngressDeps) {
    this.loops = new BotLoopGuard(deps.now);
  }

  async ingest(account: ResolvedAccount, events: readonly unknown[]): Promise<IngestedEvent[]> {
    // All at once, so the store's group commit writes the batch in one transaction.
    return Promise.all(events.map((value) => this.one(account, value)));
  }

  private async one(account: ResolvedAccount, value: unknown): Promise<IngestedEvent> {
    const { metrics, log } = this.deps;
    const checked = checkEvent(value);
    if (!checked.ok) {
      metrics.events.inc({ channel: account.channel, disposition: 'invalid' });
      log.warn({ event: 'channel.event_invalid', channel: account.channel, account: account.id, problem: checked.problem }, `channel ${account.channel}/${account.id}: skipped an event the plugin sent malformed: ${checked.problem}`);
      const eventId = (value as { eventId?: unknown } | null)?.eventId;
      return { eventId: typeof eventId === 'string' ? eventId : '', disposition: 'invalid' };
    }
    const event = checked.event;
    const disposition = await this.decide(account, event);
    const base = { eventId: event.eventId, disposition: disposition.kind };
    switch (disposition.kind) {
      case 'drop':
        metrics.events.inc({ channel: account.channel, disposition: `drop_${disposition.reason}` });
        return base;
      case 'pair':
        await this.pair(account, event);
        metrics.events.inc({ channel: account.channel, disposition: 'pair' });
        return base;
      case 'answer':
      case 'record': {
        const result = await this.store(account, event, disposition.kind === 'record');
        if (!result) return { ...base, disposition: 'invalid' };
        metrics.events.inc({ channel: account.channel, disposition: result.duplicate ? 'duplicate' : disposition.kind });
        return { ...base, messageId: result.id, duplicate: result.duplicate };
      }
    }
  }

  private async decide(account: ResolvedAccount, event: InboundEvent): Promise<Disposition> {
    const direct = event.conversation.kind === 'direct';
    const approved = direct && account.policy.dmPolicy !== 'open' ? await this.deps.channels.isApproved(account.channel, account.id, event.sender.id) : false;
    const botLoop = event.sender.isBot && account.policy.allowBots ? this.loops.tooMany(`${account.channel}:${account.id}:${event.conversation.id}:${event.sender.id}`) : false;
    return decide(event, account.policy, { approved, botLoop });
  }

  private async store(account: ResolvedAccount, event: InboundEvent, record: boolean): Promise<EnqueueResult | undefined> {
    const text = pipelineText(event).slice(0, this.deps.maxTextLength);
    if (text.trim().length === 0) {
      this.deps.metrics.events.inc({ channel: account.channel, disposition: 'drop_empty' });
      return undefined;
    }
    try {
      return await this.deps.work.enqueue({
        text,
        conversationId: conversationIdOf(account.channel, account.id, event.conversation),
        sender: senderOf(account.channel, event.sender),
        channel: account.channel,
        priority: 'normal',
        metadata: { channel: channelMetadata(account.id, event) },
        idempotencyKey: idempotencyKeyOf(account.channel, account.id, event.eventId),
        ...(record ? { record: true } : {}),
      });
    } catch (err) {
      // A 4xx is about this event (its metadata too large, say) and never succeeds: skip it.
      // Anything else (store down, queue full) must reach the platform as "not taken".
      if (err instanceof PincerError && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 429) {
        this.deps.metrics.events.inc({ channel: account.channel, disposition: 'invalid' });
        this.deps.log.warn({ event: 'channel.event_refused', channel: account.channel, account: account.id, eventId: event.eventId, code: err.code }, `channel ${account.channel}/${account.id}: the store refused event ${event.eventId}: ${err.message}`);
        return undefined;
      }
      throw err;
    }
  }

  /** An unknown sender gets one code per hour; the message itself is not answered or kept. */
  private async pair(account: ResolvedAccount, event: InboundEvent): Promise<void> {
    const now = this.deps.now();
    const outcome = await this.deps.channels.requestPairing(
      { channel: account.channel, account: account.id, senderId: event.sender.id, code: pairingCode(), createdAt: now, expiresAt: now + this.deps.pairing.ttlMs },
      this.deps.pairing.maxPending,
    );
    if (outcome.kind === 'full') {
      this.deps.log.warn({ event: 'channel.pairing_full', channel: account.channel, account: account.id }, `channel ${account.channel}/${account.id}: ${this.deps.pairing.maxPending} pairing codes are pending; sender ${event.sender.id} got none (pincer pairing list)`);
      return;
    }
    if (outcome.kind === 'pending') return;
    this.deps.log.info({ event: 'channel.pairing_requested', channel: account.channel, account: account.id, sender: event.sender.id }, `channel ${account.channel}/${account.id}: sender ${event.sender.id} asked to pair (pincer pairing approve ${account.channel} ${outcome.pairing.code})`);
    const delivery: DeliveryInsert = {
      id: timeOrderedId(now),
      messageId: null,
      channel: account.channel,
      account: account.id,
      lane: conversationIdOf(account.channel, account.id, event.conversation),
      target: { conversation: { ...event.conversation }, replyTo: event.messageId },
      body: { markdown: pairingText(this.deps.botName, account.channel, outcome.pairing.code) },
    };
    await this.deps.channels.addDeliveries([delivery]);
  }
}
