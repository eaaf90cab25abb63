import { PincerError } from '../../errors.js';
import type { ClaimedMessage, Completion, Failure } from '../types.js';
import { prepareDeliveries, type PreparedDelivery } from './deliveries.js';
import { MAX_STORED_DEPTH, nestingDepth, storedJson, storedJsonOrNull } from './stored-json.js';

type Claim = Pick<ClaimedMessage, 'id' | 'lease'> & { conversationId?: string };

/** A completion serialised for the store. */
export interface PreparedCompletion {
  analysis: string | null;
  reply: string;
  /** The reply's outbox rows, written only if the completion is accepted. */
  deliveries: PreparedDelivery[];
}

export interface PreparedFailure {
  error: string;
  analysis: string | null;
  retryable?: boolean;
}

export type Ack<C = PreparedCompletion> = { kind: 'complete'; claim: Claim; completion: C } | { kind: 'fail'; claim: Claim; failure: PreparedFailure };

type AckRequest = { kind: 'complete'; claim: Claim; completion: Completion } | { kind: 'fail'; claim: Claim; failure: Failure };

/**
 * Serialises an ack before it joins a group commit, so a value that cannot be stored fails its
 * own caller (code REPLY_UNSTORABLE) and never the transaction it would have shared.
 */
export function prepareAck(ack: AckRequest): Ack {
  if (ack.kind === 'fail') {
    const { error, analysis, retryable } = ack.failure;
    // A failure is recorded whatever its analysis holds: one the store cannot take is dropped.
    const storable = analysis && nestingDepth(analysis, MAX_STORED_DEPTH) <= MAX_STORED_DEPTH ? analysis : undefined;
    let stored: string | null = null;
    try {
      stored = storedJsonOrNull(storable);
    } catch {
      stored = null;
    }
    return { kind: 'fail', claim: ack.claim, failure: { error: error.replaceAll('\u0000', '\ufffd'), analysis: stored, ...(retryable === undefined ? {} : { retryable }) } };
  }
  const { analysis, reply } = ack.completion;
  // jsonb parses recursively: a value nested this deep would fail the shared transaction.
  if (nestingDepth(analysis, MAX_STORED_DEPTH) > MAX_STORED_DEPTH || nestingDepth(reply, MAX_STORED_DEPTH) > MAX_STORED_DEPTH) {
    throw new PincerError('REPLY_UNSTORABLE', `the reply or analysis nests deeper than ${MAX_STORED_DEPTH} levels`);
  }
  return {
    kind: 'complete',
    claim: ack.claim,
    completion: { analysis: serialise(() => storedJsonOrNull(analysis)), reply: serialise(() => storedJson(reply)), deliveries: prepareDeliveries(ack.completion.deliveries ?? []) },
  };
}

function serialise<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PincerError('REPLY_UNSTORABLE', `the reply or analysis cannot be stored as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
