import type { Logger } from 'pino';
import type { Channel } from '../pipeline/types.js';
import type { ChannelTarget } from '../plugins/sdk.js';
import { isJsonObject, type JsonObject } from '../json.js';
import { timeOrderedId } from '../store/ids.js';
import type { ClaimedMessage, DeliveryInsert, Reply } from '../store/types.js';
import type { ResolvedAccount } from './accounts.js';
import type { ChannelMetrics } from './metrics.js';
import type { RateScheduler } from './outbox/rate-scheduler.js';
import { replyButtons } from './buttons.js';
import { PreviewStream, type PreviewSettings } from './preview.js';
import { TypingLifecycle } from './typing.js';
import { WEBCHAT } from './webchat/config.js';

/** What the worker pool asks about a message it works on; undefined for messages from no chat platform. */
export interface ChannelTurn {
  token(delta: string): void;
  /** The reply's outbox rows, to be written with the completion. */
  finish(reply: Reply): Promise<DeliveryInsert[]>;
  /** The turn ends without a reply now (a failure, a shutdown). */
  abandon(): void;
}

export interface TurnsDeps {
  channel(id: string): Channel | undefined;
  account(channel: string, account: string): ResolvedAccount | undefined;
  rates: RateScheduler;
  metrics: ChannelMetrics;
  log: Pick<Logger, 'warn'>;
  now: () => number;
  preview: PreviewSettings;
  typing: { intervalMs: number; maxMs: number };
}

/** Where a channel message is answered: its conversation, as a reply to it. */
export function replyTarget(message: Pick<ClaimedMessage, 'metadata'>): { account: string; target: ChannelTarget } | undefined {
  const meta = message.metadata?.channel;
  if (!isJsonObject(meta) || typeof meta.account !== 'string' || !isJsonObject(meta.conversation)) return undefined;
  const conversation = meta.conversation as unknown as ChannelTarget['conversation'];
  return { account: meta.account, target: { conversation, ...(typeof meta.messageId === 'string' ? { replyTo: meta.messageId } : {}) } };
}

/**
 * Typing and previews of the turns this node works on. Typing runs from the claim to the
 * final delivery (`delivered`), a failure, or its cap.
 */
export class ChannelTurns {
  private readonly typing = new Map<string, TypingLifecycle>();

  constructor(private readonly deps: TurnsDeps) {}

  begin(message: ClaimedMessage): ChannelTurn | undefined {
    const where = replyTarget(message);
    if (!where) return undefined;
    // The web chat's visitors pull their replies (webchat/): it has no outbox.
    if (message.channel === WEBCHAT) return undefined;
    const account = this.deps.account(message.channel, where.account);
    if (!account) return undefined;
    // The reply's delivery never depends on the plugin being up now (it may be reloading):
    // the outbox row is written anyway and waits for it. Typing and previews need it.
    const adapter = this.deps.channel(message.channel);
    const { target } = where;
    const typing = adapter?.capabilities.typing ? this.startTyping(message.id, adapter, account, target) : undefined;
    const preview =
      adapter?.capabilities.edit && account.streaming === 'partial'
        ? new PreviewStream(adapter, account.account, target, { scheduler: this.deps.rates, scope: `${account.channel}:${account.id}` }, this.deps.preview, this.deps.metrics, this.deps.now)
        : undefined;
    return {
      token: (delta) => preview?.push(delta),
      finish: async (reply) => {
        const edits = (await preview?.close()) ?? [];
        if (reply.text.trim().length === 0) {
          typing?.stop();
          return [];
        }
        // Rendered here, on the node that has the plugin, so a claim goes straight to the
        // platform call; the worker renders itself when this could not.
        const { buttons, problem } = replyButtons(reply.data);
        if (problem) this.deps.log.warn({ event: 'channel.buttons_dropped', message: message.id, responder: reply.responder, problem }, `reply buttons left off: ${problem}`);
        const extras = buttons ? { buttons } : {};
        const plan = adapter ? await adapter.plan(reply.text, target, account.account, extras).catch(() => undefined) : undefined;
        return [
          {
            id: timeOrderedId(this.deps.now()),
            messageId: message.id,
            channel: message.channel,
            account: account.id,
            lane: message.conversationId,
            target: target as unknown as DeliveryInsert['target'],
            body: { markdown: reply.text, ...(buttons ? { buttons: buttons as unknown as JsonObject[] } : {}), ...(edits.length > 0 ? { edits } : {}), ...(plan ? { plan: plan as unknown as JsonObject } : {}) },
          },
        ];
      },
      abandon: () => {
        preview?.abandon();
        typing?.stop();
        this.typing.delete(message.id);
      },
    };
  }

  /** The final delivery of a message went out (on this node). */
  delivered(messageId: string | null): void {
    if (!messageId) return;
    this.typing.get(messageId)?.stop();
    this.typing.delete(messageId);
  }

  stopAll(): void {
    for (const t of this.typing.values()) t.stop();
    this.typing.clear();
  }

  private startTyping(messageId: string, adapter: Channel, account: ResolvedAccount, target: ChannelTarget): TypingLifecycle {
    this.typing.get(messageId)?.stop();
    const lifecycle = new TypingLifecycle(async (state, signal) => (await adapter.typing(target, account.account, state, signal).catch(() => undefined))?.ok === true, this.deps.typing, this.deps.now);
    this.typing.set(messageId, lifecycle);
    // The cap also ends the map entry of a turn whose delivery another node sent.
    const cap = setTimeout(() => {
      if (this.typing.get(messageId) === lifecycle) this.typing.delete(messageId);
    }, this.deps.typing.maxMs + 1_000);
    cap.unref();
    return lifecycle;
  }
}
