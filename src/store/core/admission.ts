import { PincerError } from '../../errors.js';
import { timeOrderedId } from '../ids.js';
import { rankOf } from '../ranking.js';
import type { EnqueueRequest, EnqueueResult } from '../types.js';
import type { QueueBook } from './book.js';
import { boundedJson, type JsonBounds } from './stored-json.js';

/** An enqueue as the backends write it: checked, with its metadata serialised once. */
export interface PreparedEnqueue {
  readonly request: EnqueueRequest;
  readonly metadata: string | null;
}

/** A message admitted into this batch: its id and rank are fixed before the transaction. */
export interface Admitted {
  readonly prepared: PreparedEnqueue;
  /** Its position in the batch (outcomes are answered by position). */
  readonly index: number;
  readonly id: string;
  readonly rank: number;
}

/**
 * Everything about one enqueue that can be wrong without the store's help is found here,
 * before it joins a group commit, so a hostile item is refused alone with a 400 and never
 * fails the transaction its neighbours share.
 */
export function prepareEnqueue(request: EnqueueRequest, bounds: JsonBounds): PreparedEnqueue {
  // PostgreSQL's text type cannot hold U+0000; refusing it on both backends keeps them alike.
  for (const [field, value] of [['text', request.text], ['conversationId', request.conversationId], ['sender', request.sender], ['channel', request.channel], ['idempotencyKey', request.idempotencyKey]] as const) {
    if (value?.includes('\u0000')) throw new PincerError('MESSAGE_INVALID', `${field} contains a NUL character (U+0000), which cannot be stored`);
  }
  const metadata = request.metadata && Object.keys(request.metadata).length > 0 ? boundedJson('metadata', request.metadata, bounds) : null;
  return { request, metadata };
}

export interface AdmissionResult {
  /** One per item: an EnqueueResult (new or duplicate) or the item's own error. */
  outcomes: Array<EnqueueResult | Error>;
  fresh: Admitted[];
  rejected: number;
}

/**
 * Decides a batch in arrival order: a duplicate of a stored key (`known`) or of an earlier
 * item of the batch, refused because the queue is full at this depth, or admitted with a
 * fresh id. Growing the limit (S5.2) happens as the depth rises within the batch. A record
 * (history only, stored as done) adds no work: it is neither refused for a full queue nor
 * counted in the depth.
 */
export function admitBatch(items: readonly PreparedEnqueue[], known: (key: string) => EnqueueResult | undefined, book: QueueBook, depth: number, now: number): AdmissionResult {
  const inBatch = new Map<string, EnqueueResult>();
  const fresh: Admitted[] = [];
  let rejected = 0;
  const outcomes = items.map((prepared, index): EnqueueResult | Error => {
    const key = prepared.request.idempotencyKey;
    if (key) {
      const duplicate = inBatch.get(key) ?? known(key);
      if (duplicate) return duplicate;
    }
    const record = prepared.request.record === true;
    const refusal = record ? undefined : book.refusal(depth);
    if (refusal) {
      rejected++;
      return refusal;
    }
    const id = timeOrderedId(now);
    fresh.push({ prepared, index, id, rank: rankOf(prepared.request.priority, now, book.options.agingMs) });
    if (!record) {
      depth++;
      book.capacity.observe(depth);
    }
    const result: EnqueueResult = { id, conversationId: prepared.request.conversationId, status: record ? 'done' : 'queued', duplicate: false };
    if (key) inBatch.set(key, { ...result, duplicate: true });
    return result;
  });
  return { outcomes, fresh, rejected };
}

/** Whether an admitted item is a record (stored as done, not work). */
export function isRecord(item: Admitted): boolean {
  return item.prepared.request.record === true;
}

/** The error an item gets when the store itself refused it (a constraint, a value it cannot hold). */
export function refusedByStore(err: unknown): PincerError {
  const reason = err instanceof Error ? err.message : String(err);
  return new PincerError('MESSAGE_REJECTED', `the store refused this message: ${reason}`);
}

/**
 * Items the store refused after admission: each gets its error, and so does any later item of
 * the batch that was answered as its duplicate. Returns how many admitted items remain.
 */
export function withdraw(admission: AdmissionResult, refused: ReadonlyMap<number, Error>): number {
  if (refused.size === 0) return admission.fresh.length;
  const ids = new Map<string, Error>();
  for (const a of admission.fresh) {
    const error = refused.get(a.index);
    if (error) ids.set(a.id, error);
  }
  admission.outcomes.forEach((outcome, i) => {
    if (!(outcome instanceof Error) && ids.has(outcome.id)) admission.outcomes[i] = ids.get(outcome.id)!;
  });
  return admission.fresh.length - refused.size;
}
