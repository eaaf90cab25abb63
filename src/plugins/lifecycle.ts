import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError, errorMessage } from '../errors.js';
import type { Disposer } from '../pipeline/types.js';
import type { FailurePolicy } from './failure-policy.js';
import { Generation } from './generation.js';
import { checkDeclared, type PluginEntry, type PluginProblem } from './manifest.js';
import { PluginConfigResolver } from './plugin-config.js';
import { PluginThread, type HostCallIo, type ThreadCall } from './plugin-thread.js';
import type { RegistrationSpec, ThreadData } from './protocol.js';
import type { JsonObject, JsonValue } from './sdk.js';
import type { ServiceTable } from './services.js';
import { declaredServices, type PluginSlot, type PluginState } from './slot.js';
import type { PluginEvent } from './view.js';

/**
 * Why a generation starts: `start` (first start, an enable, a waiting plugin whose services
 * arrived), `reload` (an operator asked: a failure is thrown and the running generation keeps
 * serving), `restart` (its thread died: failures keep counting, so a crash loop gets disabled).
 */
export type StartReason = 'start' | 'reload' | 'restart';

export interface LifecycleDeps {
  settings(): PincerConfig['plugins'];
  log: Logger;
  pincer: ThreadData['pincer'];
  env: NodeJS.ProcessEnv;
  services: ServiceTable;
  policy: FailurePolicy;
  attach(slot: PluginSlot, generation: Generation, handle: number, spec: RegistrationSpec): Disposer;
  hostCall(slot: PluginSlot, call: ThreadCall, io: HostCallIo): Promise<JsonValue | undefined>;
  emit(event: PluginEvent): void;
  /** Every plugin name known, so one plugin's environment prefix never takes another's. */
  names(): string[];
  closed(): boolean;
  reconcileSoon(): void;
}

/** Starting, swapping, retiring and stopping the generations of plugins. */
export class Lifecycle {
  private readonly configResolver = new PluginConfigResolver();
  /** Old generations finishing their messages; close() ends them without waiting. */
  private readonly retiring = new Set<Generation>();

  constructor(private readonly deps: LifecycleDeps) {}

  private get settings(): PincerConfig['plugins'] {
    return this.deps.settings();
  }

  setState(slot: PluginSlot, state: PluginState, reason?: string, error?: PluginProblem): void {
    const changed = slot.state !== state || slot.reason !== reason;
    slot.state = state;
    slot.reason = reason;
    slot.error = error;
    if (!changed) return;
    const level = state === 'failed' || state === 'incompatible' ? 'error' : 'info';
    this.deps.log[level]({ event: 'plugin.state', plugin: slot.name, state, reason, code: error?.code, field: error?.field }, `plugin ${slot.name}: ${state}${reason ? ` (${reason})` : ''}`);
    this.deps.emit({ type: 'state', plugin: slot.name, state, ...(reason ? { reason } : {}) });
  }

  /**
   * Start a generation. If one is running, the new one is set up beside it and the two swap
   * in one step; the old one finishes its in-flight messages before its thread ends.
   */
  async start(slot: PluginSlot, reason: StartReason): Promise<void> {
    if (this.deps.closed()) return;
    const found = slot.found;
    if (found.problem) return this.refuse(slot, reason, found.problem.code === 'PLUGIN_ENGINE_MISMATCH' ? 'incompatible' : 'failed', found.problem);
    const entry = found.entry;
    if (!entry) return this.refuse(slot, reason, 'failed', { code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer.plugins', message: 'no entry module' });
    const resolved = this.configResolver.resolve(slot.name, found.configPath, this.settings.config[slot.name], this.deps.env, this.deps.names());
    if (!resolved.ok) return this.refuse(slot, reason, 'failed', resolved.problem);
    // The manifest says what the plugin needs, so a plugin that would wait starts no thread.
    const missing = this.deps.services.missing(declaredServices(slot).inject);
    if (missing.length > 0) return this.wait(slot, reason, missing);

    if (!slot.current) this.setState(slot, 'starting');
    const generation = this.spawn(slot, entry, resolved.config);
    const thread = generation.thread;
    try {
      const mismatch = checkDeclared(entry, await thread.load(this.settings.call_timeout));
      if (mismatch) throw new PincerError(mismatch.code, mismatch.message, { field: mismatch.field });
      await thread.setup(this.settings.call_timeout);
      this.swapIn(slot, generation, reason);
    } catch (err) {
      await thread.stop(this.settings.call_timeout).catch(() => undefined);
      const code = err instanceof PincerError ? err.code : 'PLUGIN_SETUP_FAILED';
      const field = err instanceof PincerError && typeof err.details?.field === 'string' ? err.details.field : code === 'PLUGIN_LOAD_FAILED' || code === 'PLUGIN_EXPORT_INVALID' ? `pincer.plugins.${slot.name}` : 'setup';
      return this.refuse(slot, reason, 'failed', { code, field, message: errorMessage(err).replace(`plugin ${slot.name}: `, '') });
    }
  }

  /** Take the plugin out of service now; in-flight messages finish unless `drain` is false. */
  async stop(slot: PluginSlot, state: PluginState, reason: string | undefined, options: { drain?: boolean } = {}): Promise<void> {
    const generation = slot.current;
    slot.current = undefined;
    slot.health = { state: 'ok' };
    this.setState(slot, state, reason, state === 'disabled' ? undefined : slot.error);
    if (!generation) return;
    generation.deactivate();
    if (options.drain === false) await generation.thread.stop(this.settings.call_timeout);
    else await this.retire(slot, generation);
  }

  /** The failure policy's verdict: the plugin failed too often in a row. */
  autoDisable(slot: PluginSlot, failures: number, lastError: string): void {
    this.deps.log.error({ event: 'plugin.auto_disabled', plugin: slot.name, failures, lastError }, `plugin ${slot.name}: disabled after ${failures} consecutive failures (last: ${lastError}); enable it again with: pincer plugin enable ${slot.name}`);
    const generation = slot.current;
    slot.current = undefined;
    generation?.deactivate();
    this.setState(slot, 'failed', `disabled after ${failures} consecutive failures; last: ${lastError}`, { code: 'PLUGIN_AUTO_DISABLED', field: 'calls', message: lastError });
    // A hung thread would never drain; it is ended at once.
    void generation?.thread.stop(this.settings.call_timeout);
    this.deps.reconcileSoon();
  }

  /** End the threads of old generations still finishing their messages (shutdown). */
  async stopRetiring(): Promise<void> {
    await Promise.all([...this.retiring].map((g) => g.thread.stop(this.settings.call_timeout)));
  }

  private spawn(slot: PluginSlot, entry: PluginEntry, config: JsonObject): Generation {
    const number = ++slot.generations;
    const { inject, provides } = declaredServices(slot);
    const log = this.deps.log;
    // The listener's callbacks run only after `generation` below exists: thread messages arrive asynchronously.
    const thread = new PluginThread(
      slot.name,
      number,
      { plugin: slot.name, moduleUrl: pathToFileURL(entry.modulePath).href, exportName: entry.exportName, config, pincer: this.deps.pincer, inject, provides },
      {
        register: (handle, spec) => generation.onRegister(handle, spec),
        unregister: (handle) => generation.onUnregister(handle),
        call: (call, io) => this.deps.hostCall(slot, call, io),
        log: (level, msg, fields) => log[level]({ plugin: slot.name, generation: number, ...fields }, `plugin ${slot.name}: ${msg}`),
        status: (state, detail) => {
          if (slot.current !== generation) return;
          slot.health = detail ? { state, detail } : { state };
          log[state === 'ok' ? 'info' : 'warn']({ event: 'plugin.health', plugin: slot.name, health: state, detail }, `plugin ${slot.name}: ${state}${detail ? ` (${detail})` : ''}`);
        },
        crashed: (error) => void this.onCrash(slot, generation, error),
      },
      this.settings.memory_limit,
    );
    const generation: Generation = new Generation(
      thread,
      (gen, handle, spec) => this.deps.attach(slot, gen, handle, spec),
      (err, spec) => {
        // A registration made after setup that cannot be attached (a name clash, say) is the
        // plugin's error, never Pincer's: it is logged and counted, and the bot carries on.
        log.error({ event: 'plugin.register_failed', plugin: slot.name, spec, err }, `plugin ${slot.name}: ${errorMessage(err)}`);
        if (slot.current === generation) this.deps.policy.count(slot, err);
      },
    );
    return generation;
  }

  private swapIn(slot: PluginSlot, generation: Generation, reason: StartReason): void {
    const previous = slot.current;
    previous?.deactivate();
    try {
      generation.activate();
    } catch (err) {
      previous?.activate();
      throw err;
    }
    slot.current = generation;
    if (reason !== 'restart') slot.consecutiveFailures = 0;
    if (previous) {
      slot.health = { state: 'ok' };
      this.deps.log.info({ event: 'plugin.reloaded', plugin: slot.name, generation: generation.number }, `plugin ${slot.name}: generation ${generation.number} serving, generation ${previous.number} finishing its messages`);
      void this.retire(slot, previous);
    }
    this.setState(slot, 'enabled');
  }

  /** A start that cannot go ahead: a serving generation keeps serving; a reload says why. */
  private refuse(slot: PluginSlot, reason: StartReason, state: 'failed' | 'incompatible', problem: PluginProblem): void {
    if (slot.current) {
      this.deps.log.error({ event: 'plugin.reload_failed', plugin: slot.name, code: problem.code, field: problem.field }, `plugin ${slot.name}: reload failed, generation ${slot.current.number} keeps serving: ${problem.message}`);
    } else {
      this.setState(slot, state, `${problem.code} ${problem.field}: ${problem.message}`, problem);
    }
    if (reason === 'reload') throw new PincerError(problem.code, `plugin ${slot.name}: ${problem.field}: ${problem.message}`, { field: problem.field });
  }

  private wait(slot: PluginSlot, reason: StartReason, missing: string[]): void {
    const why = `needs service${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which no enabled plugin provides yet`;
    if (slot.current && reason === 'reload') {
      // A reload must not turn a serving plugin into a waiting one.
      this.deps.log.error({ event: 'plugin.reload_failed', plugin: slot.name, code: 'PLUGIN_SERVICE_UNAVAILABLE' }, `plugin ${slot.name}: reload failed, generation ${slot.current.number} keeps serving: ${why}`);
      throw new PincerError('PLUGIN_SERVICE_UNAVAILABLE', `plugin ${slot.name}: ${why}`);
    }
    slot.current?.deactivate();
    slot.current = undefined;
    this.setState(slot, 'waiting', why);
  }

  /** Let an old generation finish the messages that started on it, then end its thread. */
  private async retire(slot: PluginSlot, generation: Generation): Promise<void> {
    this.retiring.add(generation);
    try {
      const drained = await generation.drain(this.settings.drain_timeout);
      if (!drained) this.deps.log.warn({ event: 'plugin.drain_timeout', plugin: slot.name, generation: generation.number }, `plugin ${slot.name}: generation ${generation.number} still busy after ${this.settings.drain_timeout} ms; stopping it`);
      await generation.thread.stop(this.settings.call_timeout);
    } finally {
      this.retiring.delete(generation);
    }
  }

  /**
   * A thread died on its own. Its registrations stay in place (calls fail fast, so no message
   * silently skips the plugin) until a new generation swaps in, exactly as on a reload.
   */
  private async onCrash(slot: PluginSlot, generation: Generation, error: PincerError): Promise<void> {
    if (slot.current !== generation) return;
    this.deps.policy.count(slot, error);
    if (slot.current !== generation) return; // that failure disabled it
    this.deps.log.error({ event: 'plugin.crashed', plugin: slot.name, generation: generation.number, err: error }, `${error.message}; restarting`);
    // Back off before restarting, so a plugin that dies at once does not spin.
    const delay = Math.min(30_000, 250 * 2 ** Math.max(0, slot.consecutiveFailures - 1));
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
    await slot.lock.run(async () => {
      if (slot.current !== generation || this.deps.closed()) return;
      await this.start(slot, 'restart');
      if (slot.current === generation) {
        // The restart failed too: nothing is left to serve the plugin's registrations.
        generation.deactivate();
        slot.current = undefined;
        this.setState(slot, 'failed', `its thread died and restarting failed; see the log`, { code: 'PLUGIN_CRASHED', field: 'thread', message: error.message });
      }
    });
  }
}
