/**
 * The seam between Pincer and its durable store, split by role: the work queue (workers),
 * the message store (history, the conversations API) and operations (admin, metrics). The
 * embedded SQLite backend and the PostgreSQL backend (cluster mode) implement all three
 * behind one `Store`, opened by `openStore`, and both must pass the conformance suite in
 * test/store/conformance.ts. Policy shared by both lives once, in `core/`.
 */
import type { MessageEventBus } from '../events/types.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { KnowledgeStore } from './knowledge-types.js';
import type { MemoryStore } from './memory-types.js';

export type { JsonObject, JsonValue } from '../json.js';
export type * from './memory-types.js';
export type * from './knowledge-types.js';

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** queued -> processing -> done | failed -> (retry) -> ... | dead */
export const MESSAGE_STATES = ['queued', 'processing', 'done', 'failed', 'dead'] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

export interface Reply {
  text: string;
  /** Which responder produced it. */
  responder: string;
  /** Structured extras a responder wants to return to API clients. */
  data?: JsonObject;
}

export interface EnqueueRequest {
  text: string;
  conversationId: string;
  sender?: string | undefined;
  channel: string;
  priority: Priority;
  metadata?: JsonObject | undefined;
  idempotencyKey?: string | undefined;
  /**
   * Store it for history only: inserted as `done` with no reply, never claimed, not counted in
   * the depth (an unaddressed group message kept as context). Dedupe by key as usual. It adds
   * no work, so a full queue does not refuse it.
   */
  record?: boolean | undefined;
}

export interface EnqueueResult {
  id: string;
  conversationId: string;
  status: MessageState;
  /** True when the idempotency key matched an earlier message: nothing new was queued. */
  duplicate: boolean;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  text: string;
  sender: string | null;
  channel: string;
  priority: Priority;
  metadata: JsonObject | null;
  idempotencyKey: string | null;
  state: MessageState;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  /** When a queued/failed message becomes claimable. */
  availableAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  analysis: JsonObject;
  reply: Reply | null;
  lastError: string | null;
}

/** A message leased to one worker. `lease` fences out a stale worker after re-delivery. */
export interface ClaimedMessage extends MessageRecord {
  lease: number;
  leaseUntil: number;
}

export interface Completion {
  analysis: JsonObject;
  reply: Reply;
  /** The reply's outbox rows, written in the same transaction (nothing if the lease was lost). */
  deliveries?: DeliveryInsert[];
}

export interface Failure {
  error: string;
  analysis?: JsonObject;
  /** false sends the message straight to the dead letters (e.g. input that can never succeed). */
  retryable?: boolean;
}

export type FailOutcome = 'retry' | 'dead' | 'stale';

export interface QueueStats {
  backend: string;
  depth: number;
  byState: Record<MessageState, number>;
  byPriority: Record<Priority, number>;
  limit: number;
  baseLimit: number;
  cap: number;
  /** How many times the limit has grown (S5.2) since start. */
  growths: number;
  enqueued: number;
  completed: number;
  failed: number;
  deadLettered: number;
  rejected: number;
  oldestQueuedAgeMs: number | null;
}

export interface DeadLetterEvent {
  id: string;
  attempts: number;
  error: string;
}

export interface ListOptions {
  limit: number;
  offset?: number;
}

type Lease = Pick<ClaimedMessage, 'id' | 'lease'>;

/** What workers use: put work in, lease it, renew leases, record outcomes. */
export interface WorkQueue {
  /** Persist a message (group-committed with concurrent enqueues). Throws QueueFullError or a 4xx for an invalid item. */
  enqueue(request: EnqueueRequest): Promise<EnqueueResult>;
  /** Lease up to `max` claimable messages, highest rank first, at most one per conversation. */
  claim(max: number): Promise<ClaimedMessage[]>;
  /** Push the lease of messages still being worked on. Returns the ids whose lease was lost. */
  extendLeases(claims: ReadonlyArray<Lease>): Promise<string[]>;
  /** Mark done with its reply. false when the lease was lost (another worker owns it now). */
  complete(claim: Lease, completion: Completion): Promise<boolean>;
  /** Record a failed attempt: retry later with backoff, or dead after max attempts. */
  fail(claim: Lease, failure: Failure): Promise<FailOutcome>;
  /** Hand a message back unprocessed (shutdown); the attempt does not count. */
  release(claim: Lease): Promise<void>;
  /** Earliest time something becomes claimable (a retry or an expiring lease), if any. */
  nextDueAt(): Promise<number | null>;
  /** Called when new work may be claimable. Returns a disposer. */
  onWork(listener: () => void): () => void;
  /** Called when a message dies without a worker reporting it (its lease ran out on the last attempt). */
  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void;
}

/** What readers use: one message, a conversation, a prompt's history. */
export interface MessageStore {
  get(id: string): Promise<MessageRecord | undefined>;
  /** A conversation's messages, oldest first. */
  conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]>;
  /** The newest `limit` messages of a conversation, oldest first (a model's prompt history). */
  latest(conversationId: string, limit: number): Promise<MessageRecord[]>;
  /** Resolves once everything committed so far is durable (readers use it before showing a final state). */
  synced(): Promise<void>;
}

/** What operators use: counts, dead letters, retention, health. */
export interface QueueAdmin {
  listDead(options: ListOptions): Promise<MessageRecord[]>;
  /** Put dead messages back in the queue with fresh attempts. Returns how many moved. */
  retryDead(ids: readonly string[] | 'all'): Promise<number>;
  stats(): Promise<QueueStats>;
  /** Delete finished messages older than the retention window. Returns how many. */
  purge(olderThanMs: number): Promise<number>;
  /** Cheap check that the store answers (readiness). */
  ping(): Promise<void>;
}

// ---- channels: the delivery outbox, pollers' leases, pairing -------------------------------

/**
 * queued -> sending -> sent | failed (retried when due) | dead | ambiguous (may have arrived;
 * held until an operator retries it, or a platform receipt proves it arrived: applyReceipts).
 * `sending` is written before the platform call, so a crash mid-send is found as an expired
 * `sending` row and never silently sent twice.
 */
export const DELIVERY_STATES = ['queued', 'sending', 'sent', 'failed', 'dead', 'ambiguous'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export type DeliveryErrorClass = 'rate_limited' | 'transient' | 'permanent' | 'ambiguous' | 'unparsable';

export interface DeliveryInsert {
  id: string;
  /** The message this answers; null for a message of Pincer's own (a pairing code). */
  messageId: string | null;
  channel: string;
  account: string;
  /** Deliveries of one lane go out one at a time, in insertion order: `<channel>:<account>:<chat>[:t<thread>]`. */
  lane: string;
  /** Where it goes (a ChannelTarget). */
  target: JsonObject;
  /** What it says: `{ markdown, editOf? }`. */
  body: JsonObject;
}

export interface DeliveryRecord extends DeliveryInsert {
  /** Order within the lane (store-assigned, increasing). */
  seq: number;
  state: DeliveryState;
  /** The rendered parts and rate buckets, fixed at the first claim so a resend sends the same parts. */
  plan: JsonObject | null;
  /** Index of the next part to send; parts before it are sent. */
  nextPart: number;
  /** Platform message ids of the parts sent so far. */
  receipts: string[];
  /** Claims that made (or may have made) a platform call; a 429 gives its attempt back. */
  attempts: number;
  rateLimited: number;
  availableAt: number;
  lastError: string | null;
  errorClass: DeliveryErrorClass | null;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
  /**
   * What the platform last said about it (WhatsApp's status callbacks): the furthest status
   * any of its parts reached, `failed` winning, with the platform's time (Unix ms) and, for
   * `failed`, the reason. null before any receipt, and on platforms that send none.
   */
  receipt: { status: ReceiptStatus; at: number; error: string | null } | null;
}

/** Platform statuses of a sent message, in the order they advance (`failed` ends it). */
export const RECEIPT_STATUSES = ['sent', 'delivered', 'read', 'failed'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/** One status callback, matched to the delivery and part whose reference the platform echoed back. */
export interface DeliveryReceipt {
  deliveryId: string;
  part: number;
  platformMessageId: string;
  status: ReceiptStatus;
  /** The platform's time of the status, Unix ms. */
  at: number;
  /** Why, for `failed`. */
  error?: string;
}

/**
 * What a receipt did: `unknown` (no such delivery of this account, or its part went out under
 * another platform id), `recorded` (the row shows the status), `resolved` (it also proved that
 * a part held as ambiguous, or still in flight, reached the platform: the delivery goes on).
 */
export type ReceiptMatch = 'unknown' | 'recorded' | 'resolved';

export interface ClaimedDelivery extends DeliveryRecord {
  lease: number;
  leaseUntil: number;
}

type DeliveryLease = Pick<ClaimedDelivery, 'id' | 'lease'>;

/** How a claimed delivery moves on; every change but `progress` ends the claim. */
export type DeliveryChange =
  /** Store the plan (first claim). */
  | { kind: 'plan'; plan: JsonObject }
  /** Parts up to `nextPart` are sent; still sending. */
  | { kind: 'progress'; nextPart: number; receipts: string[] }
  | { kind: 'sent'; receipts: string[] }
  /** Back to queued until `availableAt`; the attempt is given back. */
  | { kind: 'rate_limited'; availableAt: number; error: string }
  /** A failed attempt to retry at `availableAt` (state failed). */
  | { kind: 'retry'; availableAt: number; error: string; errorClass: DeliveryErrorClass }
  /** Back to queued without using an attempt (the adapter is reloading). */
  | { kind: 'release'; availableAt: number }
  | { kind: 'dead'; error: string; errorClass: DeliveryErrorClass }
  | { kind: 'ambiguous'; error: string };

export interface DeliveryListOptions extends ListOptions {
  state?: DeliveryState;
  channel?: string;
}

/** A lease on a named job held by one node at a time (a bot account's poller); `fence` grows with every new holder. */
export interface JobLease {
  name: string;
  holder: string;
  fence: number;
  expiresAt: number;
}

export interface PairingRequest {
  channel: string;
  account: string;
  senderId: string;
  code: string;
  createdAt: number;
  expiresAt: number;
}

export type PairingOutcome =
  /** A new code: send it. */
  | { kind: 'created'; pairing: PairingRequest }
  /** This sender has a live code already (it was sent). */
  | { kind: 'pending'; pairing: PairingRequest }
  /** The account has `maxPending` live codes. */
  | { kind: 'full' };

export interface ChannelStore {
  /** Queue deliveries that answer no claimed message (a pairing code), in one transaction. */
  addDeliveries(items: readonly DeliveryInsert[]): Promise<void>;
  /**
   * Lease up to `max` due deliveries (queued, or failed and due), each the oldest unsent row of
   * its lane with nothing of that lane sending; state becomes `sending` and `attempts` grows.
   */
  claimDeliveries(max: number): Promise<ClaimedDelivery[]>;
  /** false when the lease was lost. */
  updateDelivery(claim: DeliveryLease, change: DeliveryChange): Promise<boolean>;
  /** Push the lease of deliveries still sending. Returns the ids whose lease was lost. */
  extendDeliveryLeases(claims: ReadonlyArray<DeliveryLease>): Promise<string[]>;
  /**
   * Deliveries left `sending` by a node that died (lease expired: `leaseUntil <= now`). `resend`
   * says, per channel, whether such a row goes back to queued, due now (the channel dedupes),
   * or becomes `ambiguous`. Its attempt stays counted either way. Returns how many moved.
   */
  recoverDeliveries(resend: (channel: string, account: string) => boolean): Promise<number>;
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  /** Newest first. */
  listDeliveries(options: DeliveryListOptions): Promise<DeliveryRecord[]>;
  /**
   * Put an ambiguous, dead or failed delivery back in the queue (due now, fresh attempts),
   * keeping its plan, nextPart and receipts so a resumed send goes on after the parts already
   * sent. false if it is not in one of those states.
   */
  retryDelivery(id: string): Promise<boolean>;
  /** Counts by channel and account, then state. */
  deliveryCounts(): Promise<Array<{ channel: string; account: string; state: DeliveryState; count: number }>>;
  /**
   * Earliest `available_at` of a lane head that waits (queued or failed, nothing of its lane
   * sending), or expiry of a sending lease (due for recoverDeliveries), if any.
   */
  nextDeliveryDueAt(): Promise<number | null>;
  /** Called when deliveries may be claimable (a completion with deliveries, addDeliveries, retry). */
  onDeliveries(listener: () => void): () => void;
  /**
   * Apply an account's receipts, in order, in one transaction. Each shows on its delivery's
   * `receipt`. A receipt for the part a delivery has not recorded as sent (the part after its
   * `receipts`) proves that part reached the platform: an `ambiguous`, `queued` or `failed`
   * delivery records it as sent with the receipt's platform id and goes back to `queued` for
   * its next part (or to finish); a `sending` one keeps the proof, which applies if that send
   * then ends ambiguous (or its node dies). Returns what each receipt did.
   */
  applyReceipts(channel: string, account: string, receipts: readonly DeliveryReceipt[]): Promise<ReceiptMatch[]>;
  /** Delete sent, dead and ambiguous deliveries last changed more than `olderThanMs` ago. Returns how many. */
  purgeDeliveries(olderThanMs: number): Promise<number>;

  /**
   * Take a free, released or expired lease (fence + 1), or renew one this holder has (same
   * fence, even if it expired meanwhile: nobody else held it). null when another holder's lease
   * has not expired. Atomic across nodes.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<JobLease | null>;
  /**
   * Extend it while it is still this holder's with this fence; false when it was lost. A lease
   * that expired but was not taken by anyone is renewed: the fence proves nobody held it since.
   */
  renewLease(lease: Pick<JobLease, 'name' | 'holder' | 'fence'>, ttlMs: number): Promise<boolean>;
  /** Give it up (only with the matching holder and fence); the next holder gets fence + 1. */
  releaseLease(lease: Pick<JobLease, 'name' | 'holder' | 'fence'>): Promise<void>;
  /** Leases with a holder (expired ones included: see `expiresAt`), by name. */
  listLeases(): Promise<JobLease[]>;

  /**
   * Give a sender a pairing code (`code` is used if a new one is created), at most `maxPending`
   * live per account; an existing live code for the sender is returned instead. Codes are
   * stored upper-case and compared without case. Throws MESSAGE_REJECTED when another
   * sender's live request of the channel has this code (pick another one).
   */
  requestPairing(request: PairingRequest, maxPending: number): Promise<PairingOutcome>;
  /** Live (unexpired) requests, newest first; all channels when `channel` is absent. */
  listPairings(channel?: string): Promise<PairingRequest[]>;
  /** Approve a live code: the sender may write direct messages from now on. Returns the request, or undefined. */
  approvePairing(channel: string, code: string, by: string): Promise<PairingRequest | undefined>;
  denyPairing(channel: string, code: string): Promise<PairingRequest | undefined>;
  /** Senders approved by pairing. */
  isApproved(channel: string, account: string, senderId: string): Promise<boolean>;
  /** Take an approval back: the sender must pair again. false when there was none. */
  revokeApproval(channel: string, account: string, senderId: string): Promise<boolean>;

  /** Where an account's transport resumes; null before its first stored batch. */
  getCursor(channel: string, account: string): Promise<JsonValue | null>;
  /** Store it (after the batch it follows is committed); the newest write wins. */
  setCursor(channel: string, account: string, value: JsonValue): Promise<void>;
  /** Delete expired pairing requests (retention). Returns how many. */
  purgeExpiredPairings(): Promise<number>;
}

// ---- the agent: the tool loop's journal, approvals ------------------------------------------

/**
 * One journal row of a tool loop: a step's model call (`call` -1) or one of its tool calls,
 * `started` before it runs and `finished` with what came back. What `entry` holds is the
 * loop's business (src/agent/journal.ts); the store keeps it as given.
 */
export interface JournalEntry {
  step: number;
  call: number;
  state: 'started' | 'finished';
  entry: JsonObject;
  /** The message's attempt that wrote it. */
  attempt: number;
}

/** pending -> approved | denied | expired; the three decisions enqueue a continuation. */
export const APPROVAL_STATES = ['pending', 'approved', 'denied', 'expired'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export interface ApprovalInsert {
  /** Derived from the message, step and call: a replayed step finds the same approval. */
  id: string;
  messageId: string;
  conversationId: string;
  channel: string;
  sender: string | null;
  tool: string;
  /** Exactly what an approval runs: the arguments as validated, serialised once. */
  arguments: string;
  /** What the continuation needs: the original message's text and metadata, the call's id. */
  request: JsonObject;
  expiresAt: number;
}

export interface ApprovalRecord extends ApprovalInsert {
  state: ApprovalState;
  createdAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  /** The message enqueued to carry the decision out, once it is. */
  continuationId: string | null;
}

export interface ApprovalListOptions extends ListOptions {
  state?: ApprovalState;
}

export interface AgentStore {
  /** A message's journal, by step then call. */
  journal(messageId: string): Promise<JournalEntry[]>;
  /**
   * Write (or overwrite) rows of a message's journal in one transaction, only while `claim`
   * holds the message (processing, same lease). false when the lease was lost: another worker
   * owns the message now, and this one must stop. Durable when it resolves, unless `durable`
   * is false: then a later durable write (or the message's ack) makes it so, and a crash
   * before that may lose it (SQLite; PostgreSQL commits are durable anyway).
   */
  writeJournal(claim: Lease, entries: readonly JournalEntry[], options?: { durable?: boolean }): Promise<boolean>;
  /** Delete journal rows last written, and decided approvals made, more than `olderThanMs` ago. Returns how many. */
  purge(olderThanMs: number): Promise<number>;

  /**
   * Record a call waiting for approval, fenced like the journal; an approval with this id
   * already there is returned as it is (a replay). null when the lease was lost.
   */
  requestApproval(claim: Lease, approval: ApprovalInsert): Promise<ApprovalRecord | null>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  /** Newest first. */
  listApprovals(options: ApprovalListOptions): Promise<ApprovalRecord[]>;
  /**
   * Decide a pending approval (atomically: of two deciders one wins). Returns the record as it
   * is after the call, and whether this call decided it; undefined when there is no such id.
   */
  decideApproval(id: string, decision: 'approved' | 'denied', by: string): Promise<{ approval: ApprovalRecord; decided: boolean } | undefined>;
  /** Pending approvals whose time is up become `expired`. Returns them. */
  expireApprovals(): Promise<ApprovalRecord[]>;
  /** Decided approvals whose continuation is not enqueued yet (a node died between the two). */
  undispatchedApprovals(limit: number): Promise<ApprovalRecord[]>;
  /** Note the continuation's message id. */
  markDispatched(id: string, continuationId: string): Promise<void>;
}

/** One backend's queue: the three roles over one connection (or file) and its transactions. */
export interface Queue extends WorkQueue, MessageStore, QueueAdmin, ChannelStore {
  readonly backend: string;
  /** The agent's tables, over the same file or pool. */
  readonly agent: AgentStore;
  /** Agent memory: a separate object over the same connection or file (memory-types.ts). */
  readonly memory: MemoryStore;
  /** The knowledge base's sources, chunks, index and vectors: a separate object likewise (knowledge-types.ts). */
  readonly knowledge: KnowledgeStore;
  close(): Promise<void>;
}

/**
 * Everything a Pincer instance keeps, opened together by `openStore`: the three roles (one
 * backend object behind them, over one connection pool or file and its transactions) and the
 * message events, which reach every node sharing the store (in-process for SQLite,
 * LISTEN/NOTIFY for PostgreSQL). Each consumer takes only the role it uses.
 */
export interface Store {
  readonly backend: string;
  readonly work: WorkQueue;
  readonly messages: MessageStore;
  readonly admin: QueueAdmin;
  readonly channels: ChannelStore;
  readonly agent: AgentStore;
  readonly memory: MemoryStore;
  readonly knowledge: KnowledgeStore;
  readonly events: MessageEventBus;
  close(): Promise<void>;
}

export interface QueueOptions {
  maxLength: number;
  maxLengthCap: number;
  retryDelayMs: number;
  retryBackoff: number;
  maxRetryDelayMs: number;
  maxAttempts: number;
  leaseMs: number;
  agingMs: { normal: number; low: number };
  commitBatch: number;
  /** Bounds on `metadata`, checked per item before it reaches a transaction. */
  metadata: { maxDepth: number; maxBytes: number };
  /** Injected clock so tests can move time without sleeping. */
  now?: () => number;
}
