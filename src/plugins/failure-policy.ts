import { errorCode, errorMessage, type ErrorCode } from '../errors.js';
import type { Generation } from './generation.js';
import type { InvokeKind } from './protocol.js';
import type { PluginSlot } from './slot.js';
import type { PluginEvent } from './view.js';

/**
 * Whose fault a failed call was, decided by the error's code alone (never its message):
 * - `nobody`: Pincer shutting down, a message's lease moving elsewhere, a caller cancelling;
 * - `crash`: the thread died, counted once when it dies however many calls it took down;
 * - `input`: a call whose input came from outside the plugin (an HTTP request, another
 *   plugin, a model's tool arguments, a delivery) failed other than by silence;
 * - `plugin`: anything else, timeouts included.
 */
export type FailureClass = 'nobody' | 'crash' | 'input' | 'plugin';

const NOBODYS_FAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['WORKER_SHUTDOWN', 'LEASE_LOST', 'PLUGIN_CALL_ABORTED']);
const OUTSIDE_INPUT: ReadonlySet<InvokeKind> = new Set<InvokeKind>(['route', 'service', 'tool', 'channel']);
const SILENCE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['PLUGIN_TIMEOUT', 'PIPELINE_STAGE_TIMEOUT']);

export function classifyFailure(kind: InvokeKind, err: unknown): FailureClass {
  const code = errorCode(err);
  if (code !== undefined && NOBODYS_FAULT.has(code)) return 'nobody';
  if (code === 'PLUGIN_CRASHED') return 'crash';
  if (OUTSIDE_INPUT.has(kind) && (code === undefined || !SILENCE.has(code))) return 'input';
  return 'plugin';
}

export interface FailurePolicyDeps {
  maxFailures(): number;
  closed(): boolean;
  emit(event: PluginEvent): void;
  /** The plugin failed `maxFailures` times in a row: take it out of service. */
  autoDisable(slot: PluginSlot, failures: number, lastError: string): void;
}

/**
 * Counts every call's outcome. Consecutive failures past the limit disable the plugin. Only
 * the current generation counts: an old one finishing its messages cannot disable its successor.
 */
export class FailurePolicy {
  constructor(private readonly deps: FailurePolicyDeps) {}

  async tracked<T>(slot: PluginSlot, generation: Generation, kind: InvokeKind, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    slot.calls++;
    try {
      const value = await run();
      if (slot.current === generation) slot.consecutiveFailures = 0;
      this.deps.emit({ type: 'call', plugin: slot.name, kind, ok: true, ms: performance.now() - started });
      return value;
    } catch (err) {
      this.deps.emit({ type: 'call', plugin: slot.name, kind, ok: false, ms: performance.now() - started });
      if (classifyFailure(kind, err) === 'plugin' && !this.deps.closed() && slot.current === generation) this.count(slot, err);
      throw err;
    }
  }

  /** One failure of the plugin's own making (also a crash, or a registration it got wrong). */
  count(slot: PluginSlot, err: unknown): void {
    slot.failures++;
    slot.consecutiveFailures++;
    slot.lastError = errorMessage(err);
    if (slot.consecutiveFailures < this.deps.maxFailures() || !slot.current) return;
    const failures = slot.consecutiveFailures;
    this.deps.emit({ type: 'auto_disabled', plugin: slot.name, failures, lastError: slot.lastError });
    this.deps.autoDisable(slot, failures, slot.lastError);
  }
}
