import { PincerError } from '../../errors.js';
import type { CallOutcome } from '../../plugins/protocol.js';

/** The plugin was not there to take the call (reloading, disabled): nothing reached the platform. */
export const UNAVAILABLE = 'unavailable' as const;

const NOT_CALLED: ReadonlySet<string> = new Set(['PLUGIN_HANDLER_GONE', 'PLUGIN_NOT_RUNNING', 'PLUGIN_AUTO_DISABLED', 'SERVER_CLOSING']);

/**
 * One call into a channel plugin. Its own failures arrive as outcomes; a failure of the call
 * itself (the thread died or timed out mid-send) may have reached the platform, so it is
 * ambiguous, unless the call provably never started.
 */
export async function platformCall(run: () => Promise<CallOutcome>): Promise<CallOutcome | typeof UNAVAILABLE> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof PincerError && NOT_CALLED.has(err.code)) return UNAVAILABLE;
    return { ok: false, errorClass: 'ambiguous', message: err instanceof Error ? err.message : String(err) };
  }
}
