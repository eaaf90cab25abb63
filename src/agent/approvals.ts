/**
 * Approvals: a call to a tool that must not run without a person saying yes. The loop records
 * the call (its exact arguments) and answers that it has asked; the message is done and its
 * conversation goes on. A decision (the admin API, the CLI, `/approve` from an approver) or the
 * approval's expiry enqueues a continuation: a message of Pincer's own in the same
 * conversation and channel, whose run executes exactly the recorded call if it was approved,
 * gives the model the result (or the denial), and replies again.
 *
 * Decisions and dispatch are separate writes: a node that dies between them leaves a decided
 * approval without its continuation, which the next sweep (any node) enqueues. The
 * continuation's idempotency key makes that enqueue happen once.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { PincerError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../json.js';
import type { AgentStore, ApprovalRecord, MessageRecord, WorkQueue } from '../store/types.js';
import type { DecidedCall, LoopApprovals } from './loop.js';
import type { Caller, ToolPolicy } from './policy.js';

/** Continuations dispatched per sweep; the rest wait for the next one. */
const SWEEP_BATCH = 100;

export interface ApprovalDeskOptions {
  store: AgentStore;
  work: Pick<WorkQueue, 'enqueue'>;
  policy: ToolPolicy;
  now: () => number;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** What the continuation's idempotency key is: one continuation per approval, whoever enqueues it. */
export const continuationKey = (id: string) => `pincer:approval:${id}`;

/** Derived from the call's place: a replayed step asks for the same approval. */
export function approvalId(messageId: string, step: number, call: number): string {
  return `ap_${createHash('sha256').update(`${messageId}:${step}:${call}`).digest('hex').slice(0, 12)}`;
}

/** Often enough that an expiry is not late by much of its own timeout; at most every 30 s. */
export function approvalSweepInterval(timeoutMs: number): number {
  return Math.min(30_000, Math.max(250, Math.floor(timeoutMs / 4)));
}

export class ApprovalDesk {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(private readonly options: ApprovalDeskOptions) {}

  /** How one claimed message's loop asks: fenced by its lease, like the journal. */
  forMessage(message: MessageRecord, lease: number, caller: Caller): LoopApprovals {
    const { store, policy, now } = this.options;
    return {
      needed: (tool) => policy.needsApproval(tool, caller),
      request: async ({ step, call, toolCall, arguments: args }) => {
        const id = approvalId(message.id, step, call);
        const recorded = await store.requestApproval(
          { id: message.id, lease },
          {
            id,
            messageId: message.id,
            conversationId: message.conversationId,
            channel: message.channel,
            sender: message.sender,
            tool: toolCall.name,
            arguments: args,
            request: { text: message.text, callId: toolCall.id, ...(message.metadata ? { metadata: message.metadata } : {}) },
            expiresAt: now() + policy.approvalTimeoutMs,
          },
        );
        if (!recorded) throw new PincerError('LEASE_LOST', 'the lease on this message moved to another worker while it asked for an approval; this copy was stopped');
        this.options.log.info({ event: 'approval.requested', id, tool: toolCall.name, conversationId: message.conversationId }, `approval ${id} requested for ${toolCall.name}`);
        return { id };
      },
    };
  }

  /**
   * Approve or deny, then enqueue the continuation. A second decision of the same kind is
   * answered with the approval as it is; the other kind, or one after expiry, is a conflict.
   */
  async decide(id: string, decision: 'approved' | 'denied', by: string): Promise<ApprovalRecord> {
    const result = await this.options.store.decideApproval(id, decision, by);
    if (!result) throw new PincerError('TOOL_APPROVAL_NOT_FOUND', `no approval ${id}`);
    if (!result.decided && result.approval.state !== decision) {
      throw new PincerError('TOOL_APPROVAL_DECIDED', `approval ${id} is ${result.approval.state} already${result.approval.decidedBy ? ` (by ${result.approval.decidedBy})` : ''}`);
    }
    if (result.decided) this.options.log.info({ event: 'approval.decided', id, decision, by }, `approval ${id} ${decision} by ${by}`);
    return result.approval.continuationId ? result.approval : await this.dispatch(result.approval);
  }

  /** Expire what is due and enqueue every continuation still owed. Returns how many were enqueued. */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const expired = await this.options.store.expireApprovals();
    for (const a of expired) this.options.log.info({ event: 'approval.expired', id: a.id, tool: a.tool }, `approval ${a.id} for ${a.tool} expired unanswered: denied`);
    const owed = await this.options.store.undispatchedApprovals(SWEEP_BATCH);
    let dispatched = 0;
    for (const approval of owed) {
      try {
        await this.dispatch(approval);
        dispatched++;
      } catch (err) {
        this.options.log.error({ err, id: approval.id }, `could not enqueue the continuation of approval ${approval.id}; the next sweep tries again`);
      }
    }
    return dispatched;
  }

  /** The continuation message; its key dedupes a second enqueue (another node, a retry). */
  private async dispatch(approval: ApprovalRecord): Promise<ApprovalRecord> {
    const metadata = isJsonObject(approval.request.metadata) ? approval.request.metadata : {};
    const said = approval.state === 'expired' ? 'expired unanswered' : `${approval.state} by ${approval.decidedBy ?? 'an operator'}`;
    const queued = await this.options.work.enqueue({
      text: `Approval ${approval.id} for ${approval.tool}: ${said}.`,
      conversationId: approval.conversationId,
      sender: approval.sender ?? undefined,
      channel: approval.channel,
      priority: 'high',
      metadata: { ...metadata, approval: { id: approval.id } },
      idempotencyKey: continuationKey(approval.id),
    });
    await this.options.store.markDispatched(approval.id, queued.id);
    return { ...approval, continuationId: queued.id };
  }

  /**
   * The decided call a message carries out, when it is the continuation of an approval. Only
   * Pincer's own continuation counts: its key, conversation and channel must match the record.
   */
  async continuationOf(message: MessageRecord): Promise<DecidedCall | undefined> {
    const ref = message.metadata?.approval;
    if (!isJsonObject(ref) || typeof ref.id !== 'string') return undefined;
    const approval = await this.options.store.getApproval(ref.id);
    const genuine =
      approval !== undefined &&
      approval.state !== 'pending' &&
      message.idempotencyKey === continuationKey(approval.id) &&
      message.conversationId === approval.conversationId &&
      message.channel === approval.channel;
    if (!genuine) {
      this.options.log.warn({ event: 'approval.continuation_refused', id: ref.id, messageId: message.id }, `message ${message.id} names approval ${ref.id} but is not its continuation; answered as a plain message`);
      return undefined;
    }
    const request: JsonObject = approval.request;
    return {
      toolCall: { id: typeof request.callId === 'string' ? request.callId : `call_${approval.id}`, name: approval.tool, arguments: approval.arguments },
      decision: approval.state as DecidedCall['decision'],
      by: approval.decidedBy,
      idempotencyKey: `approval:${approval.id}`,
    };
  }

  /** Sweep every `everyMs` until stopped (a lifecycle part). */
  start(everyMs: number): void {
    this.timer = setInterval(() => void this.sweep().catch((err: unknown) => this.options.log.error({ err }, 'approval sweep failed')), everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }
}
