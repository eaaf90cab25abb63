import type { Logger } from 'pino';
import { z } from 'zod';
import { RECEIPT_STATUSES, type ChannelStore, type DeliveryReceipt, type ReceiptMatch } from '../store/types.js';
import type { ResolvedAccount } from './accounts.js';
import type { ChannelMetrics } from './metrics.js';

/**
 * Platform statuses of the bot's own messages (a webhook verdict's `receipts`), applied to
 * their deliveries. A plugin is third-party code, so each is checked like an event; one that
 * names no delivery of this account is counted and dropped, never an error for the platform,
 * which would only send it again.
 */

const receiptSchema = z.object({
  platformMessageId: z.string().min(1).max(256),
  status: z.enum(RECEIPT_STATUSES),
  timestamp: z.number().finite().nonnegative(),
  error: z.string().max(2000).optional(),
  reference: z.string().max(512).optional(),
});

/** `<deliveryId>.<part>`: the `extra.webhookId` the delivery worker gives every part. */
const REFERENCE = /^(.{1,256})\.(\d{1,6})$/;

export function parseReference(reference: string | undefined): { deliveryId: string; part: number } | undefined {
  const m = reference === undefined ? null : REFERENCE.exec(reference);
  return m ? { deliveryId: m[1]!, part: Number(m[2]) } : undefined;
}

export interface ReceiptDeps {
  store: ChannelStore;
  metrics: ChannelMetrics;
  log: Logger;
}

/** Resolves once the receipts are committed, so the webhook is answered only then. */
export async function applyReceipts(deps: ReceiptDeps, account: ResolvedAccount, values: readonly unknown[]): Promise<void> {
  const { metrics, log } = deps;
  const channel = account.channel;
  const matched: DeliveryReceipt[] = [];
  for (const value of values) {
    const parsed = receiptSchema.safeParse(value);
    if (!parsed.success) {
      metrics.receipts.inc({ channel, status: 'invalid', match: 'invalid' });
      const issue = parsed.error.issues[0];
      log.warn({ event: 'channel.receipt_invalid', channel, account: account.id, problem: `${issue?.path.join('.') || 'receipt'}: ${issue?.message ?? 'invalid'}` }, `channel ${channel}/${account.id}: skipped a receipt the plugin sent malformed`);
      continue;
    }
    const r = parsed.data;
    const ref = parseReference(r.reference);
    if (!ref) {
      metrics.receipts.inc({ channel, status: r.status, match: 'unknown' });
      continue;
    }
    matched.push({ ...ref, platformMessageId: r.platformMessageId, status: r.status, at: r.timestamp, ...(r.error !== undefined && { error: r.error }) });
  }
  if (matched.length === 0) return;
  const results: ReceiptMatch[] = await deps.store.applyReceipts(channel, account.id, matched);
  matched.forEach((receipt, i) => {
    const match = results[i] ?? 'unknown';
    metrics.receipts.inc({ channel, status: receipt.status, match });
    if (match === 'unknown') return;
    const fields = { channel, account: account.id, delivery: receipt.deliveryId, part: receipt.part, platformMessageId: receipt.platformMessageId };
    if (receipt.status === 'failed') log.warn({ event: 'channel.receipt_failed', ...fields, reason: receipt.error }, `delivery ${receipt.deliveryId} (${channel}/${account.id}): the platform could not deliver part ${receipt.part}: ${receipt.error ?? 'no reason given'}`);
    if (match === 'resolved') log.info({ event: 'channel.delivery_resolved', ...fields, status: receipt.status }, `delivery ${receipt.deliveryId} (${channel}/${account.id}): a ${receipt.status} receipt proves part ${receipt.part} arrived; the delivery goes on`);
  });
}
