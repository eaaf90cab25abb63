import { PincerError } from '../../errors.js';
import type { ClaimedMessage, Completion, Failure } from '../types.js';
import { storedJson, storedJsonOrNull } from './stored-json.js';

type Claim = Pick<ClaimedMessage, 'id' | 'lease'> & { conversationId?: string };

/** A completion serialised for the store. */
export interface PreparedCompletion {
  analysis: string | null;
  reply: string;
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
    return { kind: 'fail', claim: ack.claim, failure: { error: error.replaceAll('\u0000', '\ufffd'), analysis: serialise(() => storedJsonOrNull(analysis)) ?? null, ...(retryable === undefined ? {} : { retryable }) } };
  }
  const { analysis, reply } = ack.completion;
  return { kind: 'complete', claim: ack.claim, completion: { analysis: serialise(() => storedJsonOrNull(analysis)), reply: serialise(() => storedJson(reply)) } };
}

function serialise<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PincerError('REPLY_UNSTORABLE', `the reply or analysis cannot be stored as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
