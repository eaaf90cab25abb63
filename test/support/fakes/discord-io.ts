/**
 * What a channel plugin's poll loop gets as `io` in the Discord plugin's tests: it records each
 * committed batch and cursor (and when it committed), refuses the next `refuse` non-empty
 * batches as a full queue would, and keeps `fatal`s.
 */
import type { ChannelIngestIO, InboundEvent, JsonValue } from '../../../src/plugins/sdk.js';
import { eventually } from '../eventually.js';

export interface Recorder extends ChannelIngestIO {
  batches: InboundEvent[][];
  /** Date.now() when each event id's batch committed. */
  committedAt: Map<string, number>;
  cursors: JsonValue[];
  stored: JsonValue | null;
  fatals: Array<{ detail: string; hint?: string }>;
  refuse: number;
}

export function recorder(stored: JsonValue | null = null): Recorder {
  const rec: Recorder = {
    batches: [],
    committedAt: new Map(),
    cursors: [],
    stored,
    fatals: [],
    refuse: 0,
    async ingest(events, options) {
      if (rec.refuse > 0 && events.length > 0) {
        rec.refuse--;
        throw new Error('queue full');
      }
      if (events.length > 0) rec.batches.push(events);
      for (const event of events) rec.committedAt.set(event.eventId, Date.now());
      if (options?.cursor !== undefined) {
        rec.cursors.push(options.cursor);
        rec.stored = options.cursor;
      }
    },
    async cursor() {
      return rec.stored;
    },
    fatal(detail, hint) {
      rec.fatals.push({ detail, ...(hint !== undefined ? { hint } : {}) });
    },
  };
  return rec;
}

export const events = (rec: Recorder): InboundEvent[] => rec.batches.flat();

/** Poll until `check` holds (10 s), else fail naming `what`. */
export async function until(check: () => boolean, what: string): Promise<void> {
  await eventually(check, (held) => held, 10_000, what);
}

export { classOf } from '../channel-errors.js';
