import { PincerError } from '../../errors.js';
import type {
  ClaimedDelivery,
  DeliveryChange,
  DeliveryErrorClass,
  DeliveryInsert,
  DeliveryReceipt,
  DeliveryRecord,
  DeliveryState,
  JobLease,
  JsonObject,
  JsonValue,
  PairingRequest,
  ReceiptStatus,
} from '../types.js';
import { MAX_STORED_DEPTH, nestingDepth, storedJson } from './stored-json.js';

/** What fences a delivery's claim. */
export type DeliveryLease = Pick<ClaimedDelivery, 'id' | 'lease'>;

/** What fences a job lease's holder. */
export type LeaseKey = Pick<JobLease, 'name' | 'holder' | 'fence'>;

/** The last error of a delivery found `sending` after its node went away, on a channel that does not dedupe. */
export const SENDER_LOST_ERROR = 'the node sending it stopped before it knew whether the platform got it';

/**
 * The deliveries table's row as both backends store it: JSON as text (SQLite, `J` = string) or
 * as jsonb the driver has already parsed (PostgreSQL, `J` = the value).
 */
export interface DeliveryRow<J> {
  seq: number;
  id: string;
  message_id: string | null;
  channel: string;
  account: string;
  lane: string;
  target: J;
  body: J;
  plan: J | null;
  next_part: number;
  receipts: J;
  state: DeliveryState;
  attempts: number;
  rate_limited: number;
  available_at: number;
  lease: number;
  lease_until: number | null;
  last_error: string | null;
  error_class: DeliveryErrorClass | null;
  created_at: number;
  updated_at: number;
  sent_at: number | null;
  receipt_status: ReceiptStatus | null;
  receipt_at: number | null;
  receipt_error: string | null;
  proof_part: number | null;
  proof_id: string | null;
}

export function toDeliveryRecord<J>(row: DeliveryRow<J>, json: (value: J) => unknown): DeliveryRecord {
  return {
    id: row.id,
    messageId: row.message_id,
    channel: row.channel,
    account: row.account,
    lane: row.lane,
    target: json(row.target) as JsonObject,
    body: json(row.body) as JsonObject,
    seq: row.seq,
    state: row.state,
    plan: row.plan === null ? null : (json(row.plan) as JsonObject),
    nextPart: row.next_part,
    receipts: json(row.receipts) as string[],
    attempts: row.attempts,
    rateLimited: row.rate_limited,
    availableAt: row.available_at,
    lastError: row.last_error,
    errorClass: row.error_class,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    sentAt: row.sent_at,
    receipt: row.receipt_status === null ? null : { status: row.receipt_status, at: Number(row.receipt_at ?? 0), error: row.receipt_error },
  };
}

export function toClaimedDelivery<J>(row: DeliveryRow<J>, json: (value: J) => unknown): ClaimedDelivery {
  return { ...toDeliveryRecord(row, json), lease: row.lease, leaseUntil: row.lease_until ?? 0 };
}

/** `resend` asked once per channel, however many of its deliveries a recovery moves. */
export function oncePerChannel(resend: (channel: string, account: string) => boolean): (channel: string, account: string) => boolean {
  const decisions = new Map<string, boolean>();
  return (channel, account) => {
    const key = `${channel}\u0000${account}`;
    let decision = decisions.get(key);
    if (decision === undefined) decisions.set(key, (decision = resend(channel, account)));
    return decision;
  };
}

/** A transport's cursor is small and plain: larger or unstorable ones are a plugin's bug. */
export function storedCursor(value: JsonValue): string {
  if (value !== null && typeof value === 'object' && nestingDepth(value, 8) > 8) throw new PincerError('REPLY_UNSTORABLE', 'a channel cursor nests deeper than 8 levels');
  const text = storedJson(value);
  if (Buffer.byteLength(text) > 16_384) throw new PincerError('REPLY_UNSTORABLE', `a channel cursor of ${Buffer.byteLength(text)} bytes is more than 16384`);
  return text;
}

/** A delivery serialised for the store, checked before it joins a transaction. */
export interface PreparedDelivery {
  id: string;
  messageId: string | null;
  channel: string;
  account: string;
  lane: string;
  target: string;
  body: string;
}

/**
 * Checks and serialises deliveries before they reach a transaction, so one that cannot be
 * stored fails its own caller (REPLY_UNSTORABLE: a delivery is a reply's way out) and never
 * the group commit it would have shared.
 */
export function prepareDeliveries(items: readonly DeliveryInsert[]): PreparedDelivery[] {
  return items.map((item) => {
    for (const [field, value] of [['id', item.id], ['messageId', item.messageId], ['channel', item.channel], ['account', item.account], ['lane', item.lane]] as const) {
      if (value?.includes('\u0000')) throw new PincerError('REPLY_UNSTORABLE', `delivery ${field} contains a NUL character (U+0000), which cannot be stored`);
    }
    return { id: item.id, messageId: item.messageId, channel: item.channel, account: item.account, lane: item.lane, target: storableJson('target', item.target), body: storableJson('body', item.body) };
  });
}

function storableJson(field: string, value: JsonObject): string {
  // jsonb parses recursively, and a cycle or a BigInt cannot be serialised at all.
  if (nestingDepth(value, MAX_STORED_DEPTH) > MAX_STORED_DEPTH) throw new PincerError('REPLY_UNSTORABLE', `delivery ${field} nests deeper than ${MAX_STORED_DEPTH} levels`);
  try {
    return storedJson(value);
  } catch (err) {
    throw new PincerError('REPLY_UNSTORABLE', `delivery ${field} cannot be stored as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * What one DeliveryChange writes, the same on both backends. Each backend has one UPDATE that
 * takes these values (a null leaves its column as it is), fenced by id, lease and state
 * `sending`.
 */
export interface DeliveryPatch {
  state: DeliveryState;
  plan: string | null;
  nextPart: number | null;
  receipts: string | null;
  /** -1 gives the claim's attempt back (a 429, a release). */
  attemptsDelta: number;
  rateLimitedDelta: number;
  availableAt: number | null;
  /** Whether lastError and errorClass are written (a sent delivery clears them). */
  setsError: boolean;
  lastError: string | null;
  errorClass: DeliveryErrorClass | null;
  sentAt: number | null;
  /** false for `plan` and `progress`: the delivery is still sending under the same lease. */
  endsClaim: boolean;
}

export function deliveryPatch(change: DeliveryChange, now: number): DeliveryPatch {
  const base: DeliveryPatch = {
    state: 'sending',
    plan: null,
    nextPart: null,
    receipts: null,
    attemptsDelta: 0,
    rateLimitedDelta: 0,
    availableAt: null,
    setsError: false,
    lastError: null,
    errorClass: null,
    sentAt: null,
    endsClaim: true,
  };
  const error = (text: string, errorClass: DeliveryErrorClass) => ({ setsError: true, lastError: text.replaceAll('\u0000', '\ufffd'), errorClass });
  switch (change.kind) {
    case 'plan':
      return { ...base, plan: storableJson('plan', change.plan), endsClaim: false };
    case 'progress':
      return { ...base, nextPart: change.nextPart, receipts: receiptsJson(change.receipts), endsClaim: false };
    case 'sent':
      return { ...base, state: 'sent', receipts: receiptsJson(change.receipts), sentAt: now, setsError: true };
    case 'rate_limited':
      return { ...base, state: 'queued', attemptsDelta: -1, rateLimitedDelta: 1, availableAt: change.availableAt, ...error(change.error, 'rate_limited') };
    case 'retry':
      return { ...base, state: 'failed', availableAt: change.availableAt, ...error(change.error, change.errorClass) };
    case 'release':
      return { ...base, state: 'queued', attemptsDelta: -1, availableAt: change.availableAt };
    case 'dead':
      return { ...base, state: 'dead', ...error(change.error, change.errorClass) };
    case 'ambiguous':
      return { ...base, state: 'ambiguous', ...error(change.error, 'ambiguous') };
  }
}

function receiptsJson(receipts: readonly string[]): string {
  return storedJson(receipts.map((r) => r.replaceAll('\u0000', '\ufffd')));
}

// ---- receipts ---------------------------------------------------------------------------------

/** How far a status says a message got; `failed` outranks the rest and is never replaced. */
const RECEIPT_RANK: Record<ReceiptStatus, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };

/** The columns of a delivery a receipt reads. */
export type ReceiptRow = Pick<DeliveryRow<unknown>, 'receipt_status' | 'receipt_at' | 'receipt_error'> & { receipts: string[] };

/** What a receipt writes to its delivery; both backends apply it with one UPDATE by id. */
export interface ReceiptWrite {
  status: ReceiptStatus;
  at: number;
  error: string | null;
  /** The part ids with this one filled in, when a send's answer had lost it (''); else null. */
  receipts: string | null;
  /** The part this receipt proves arrived, when the row has not recorded it as sent. */
  proof: { part: number; id: string } | null;
}

/**
 * What one receipt does to its delivery's row, the same on both backends; undefined when it
 * cannot be this delivery's (the part was recorded under another platform id, or lies beyond
 * the part in flight). After the write, the backend's resolve statement turns a proof for the
 * next part of a delivery that is not sending into that part sent.
 */
export function receiptWrite(row: ReceiptRow, receipt: DeliveryReceipt): ReceiptWrite | undefined {
  const known = row.receipts[receipt.part];
  if (known !== undefined && known !== '' && known !== receipt.platformMessageId) return undefined;
  if (known === undefined && receipt.part !== row.receipts.length) return undefined;
  const current = row.receipt_status;
  const advances = current === null || RECEIPT_RANK[receipt.status] > RECEIPT_RANK[current];
  // Two parts with the same status: the later one says when the whole delivery got there.
  const same = current === receipt.status && current !== 'failed';
  const at = advances ? receipt.at : same ? Math.max(Number(row.receipt_at ?? 0), receipt.at) : Number(row.receipt_at ?? 0);
  const status = advances ? receipt.status : current!;
  const error = advances ? (receipt.status === 'failed' ? (receipt.error ?? 'the platform gave no reason').replaceAll('\u0000', '\ufffd').slice(0, 2000) : null) : row.receipt_error;
  const filled = known === '' ? row.receipts.map((id, i) => (i === receipt.part ? receipt.platformMessageId : id)) : undefined;
  return {
    status,
    at,
    error,
    receipts: filled ? receiptsJson(filled) : null,
    proof: known === undefined ? { part: receipt.part, id: receipt.platformMessageId.replaceAll('\u0000', '\ufffd') } : null,
  };
}

// ---- leases and pairing ---------------------------------------------------------------------

export interface LeaseRow {
  name: string;
  holder: string;
  fence: number;
  expires_at: number;
}

export function toJobLease(row: LeaseRow): JobLease {
  return { name: row.name, holder: row.holder, fence: row.fence, expiresAt: row.expires_at };
}

export interface PairingRow {
  channel: string;
  account: string;
  sender_id: string;
  code: string;
  created_at: number;
  expires_at: number;
}

export function toPairing(row: PairingRow): PairingRequest {
  return { channel: row.channel, account: row.account, senderId: row.sender_id, code: row.code, createdAt: row.created_at, expiresAt: row.expires_at };
}

/** Codes are read back by people: compared without case, stored upper-case. */
export function pairingCode(code: string): string {
  return code.toUpperCase();
}

/** A pairing request as stored (code upper-cased), with its fields checked. */
export function preparePairing(request: PairingRequest): PairingRequest {
  for (const [field, value] of [['channel', request.channel], ['account', request.account], ['senderId', request.senderId], ['code', request.code]] as const) {
    if (value.includes('\u0000')) throw new PincerError('MESSAGE_INVALID', `pairing ${field} contains a NUL character (U+0000), which cannot be stored`);
  }
  return { ...request, code: pairingCode(request.code) };
}

/** Another sender's live request holds the code (codes are unique per channel): the caller picks another. */
export function pairingCodeTaken(request: PairingRequest): PincerError {
  return new PincerError('MESSAGE_REJECTED', `pairing code ${request.code} is live for another sender on channel ${request.channel}; pick another code`);
}
