import { expect } from 'vitest';
import { ChannelError } from '../../src/channels/kit/index.js';

/** The ChannelError a channel call failed with (the test fails if it did not fail with one). */
export async function classOf(promise: Promise<unknown>): Promise<ChannelError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChannelError);
  return err as ChannelError;
}
