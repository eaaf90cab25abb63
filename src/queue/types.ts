/**
 * The seam between Pincer and its durable store. The embedded SQLite backend and the
 * PostgreSQL backend (cluster mode) both implement `Queue`, and both must pass the
 * conformance suite in test/queue/conformance.ts.
 */

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** queued -> processing -> done | failed -> (retry) -> ... | dead */
export const MESSAGE_STATES = ['queued', 'processing', 'done', 'failed', 'dead'] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

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

export interface Queue {
  readonly backend: string;
  /** Persist a message (group-committed with concurrent enqueues). Throws QueueFullError. */
  enqueue(request: EnqueueRequest): Promise<EnqueueResult>;
  /** Lease up to `max` claimable messages, highest rank first, at most one per conversation. */
  claim(max: number): Promise<ClaimedMessage[]>;
  /** Push the lease of messages still being worked on. Returns the ids whose lease was lost. */
  extendLeases(claims: ReadonlyArray<Pick<ClaimedMessage, 'id' | 'lease'>>): Promise<string[]>;
  /** Mark done with its reply. false when the lease was lost (another worker owns it now). */
  complete(claim: Pick<ClaimedMessage, 'id' | 'lease'>, completion: Completion): Promise<boolean>;
  /** Record a failed attempt: retry later with backoff, or dead after max attempts. */
  fail(claim: Pick<ClaimedMessage, 'id' | 'lease'>, failure: Failure): Promise<FailOutcome>;
  /** Hand a message back unprocessed (shutdown); the attempt does not count. */
  release(claim: Pick<ClaimedMessage, 'id' | 'lease'>): Promise<void>;
  get(id: string): Promise<MessageRecord | undefined>;
  /** A conversation's messages, oldest first. */
  conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]>;
  /** The newest `limit` messages of a conversation, oldest first (a model's prompt history). */
  latest(conversationId: string, limit: number): Promise<MessageRecord[]>;
  listDead(options: ListOptions): Promise<MessageRecord[]>;
  /** Put dead messages back in the queue with fresh attempts. Returns how many moved. */
  retryDead(ids: readonly string[] | 'all'): Promise<number>;
  stats(): Promise<QueueStats>;
  /** Earliest time something becomes claimable (a retry or an expiring lease), if any. */
  nextDueAt(): Promise<number | null>;
  /** Called when new work may be claimable. Returns a disposer. */
  onWork(listener: () => void): () => void;
  /** Called when a message dies without a worker reporting it (its lease ran out on the last attempt). */
  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void;
  /** Resolves once everything committed so far is durable (readers use it before showing a final state). */
  synced(): Promise<void>;
  /** Delete finished messages older than the retention window. Returns how many. */
  purge(olderThanMs: number): Promise<number>;
  /** Cheap check that the store answers (readiness). */
  ping(): Promise<void>;
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
  /** Injected clock so tests can move time without sleeping. */
  now?: () => number;
}
