/**
 * The seam between Pincer and its durable store, split by role: the work queue (workers),
 * the message store (history, the conversations API) and operations (admin, metrics). The
 * embedded SQLite backend and the PostgreSQL backend (cluster mode) implement all three
 * behind one `Store`, opened by `openStore`, and both must pass the conformance suite in
 * test/store/conformance.ts. Policy shared by both lives once, in `core/`.
 */
import type { MessageEventBus } from '../events/types.js';
import type { JsonObject } from '../json.js';

export type { JsonObject, JsonValue } from '../json.js';

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

/** One backend's queue: the three roles over one connection (or file) and its transactions. */
export interface Queue extends WorkQueue, MessageStore, QueueAdmin {
  readonly backend: string;
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
