import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError, StageTimeoutError, errorMessage } from '../errors.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Command, Disposer, ResponderReply, StageContext } from '../pipeline/types.js';
import type { JsonObject, JsonValue, MessageRecord, QueueStats } from '../queue/types.js';
import { discoverPlugins, type DiscoveredPlugin } from './discovery.js';
import { Generation } from './generation.js';
import { installPlugin, type InstallResult } from './install.js';
import type { PluginProblem } from './manifest.js';
import { PluginConfigResolver } from './plugin-config.js';
import { PluginStateFile } from './plugin-state.js';
import { PluginThread, type ThreadCall } from './plugin-thread.js';
import type { InvokeKind, RegistrationSpec } from './protocol.js';
import { RouteTable } from './route-table.js';
import type { CommandInfo, HttpMethod, PluginMessage, RouteResponse } from './sdk.js';

export type PluginState = 'enabled' | 'disabled' | 'failed' | 'incompatible' | 'waiting' | 'starting';

export interface PluginView {
  name: string;
  packageName: string;
  version: string;
  source: string;
  dir: string;
  state: PluginState;
  /** Why the plugin is not enabled, or what it reported about itself. */
  reason?: string;
  error?: PluginProblem;
  /** What the running plugin says about itself (e.g. a missing system package). */
  health: { state: 'ok' | 'unavailable'; detail?: string };
  generation: number;
  inject: string[];
  provides: string[];
  registered: { analyzers: string[]; responders: string[]; commands: string[]; hooks: string[]; routes: string[]; services: string[] };
  calls: number;
  failures: number;
  consecutiveFailures: number;
  lastError?: string;
}

/** Metric-ready events (#5 turns these into Prometheus series). */
export type PluginEvent =
  | { type: 'state'; plugin: string; state: PluginState; reason?: string }
  | { type: 'call'; plugin: string; kind: InvokeKind; ok: boolean; ms: number }
  | { type: 'auto_disabled'; plugin: string; failures: number; lastError: string };

export interface PluginManagerDeps {
  config: PincerConfig;
  registry: PipelineRegistry;
  log: Logger;
  version: string;
  /** Pincer's install folder (bundled plugins), or undefined to skip them. */
  bundledRoot: string | undefined;
  startedAt: number;
  stats(): Promise<QueueStats>;
  /** Where PINCER_PLUGIN_<NAME>_<KEY> settings are read; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

interface PluginRecord {
  name: string;
  found: DiscoveredPlugin;
  state: PluginState;
  reason: string | undefined;
  error: PluginProblem | undefined;
  health: { state: 'ok' | 'unavailable'; detail?: string };
  current: Generation | undefined;
  generations: number;
  inject: string[];
  provides: string[];
  calls: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | undefined;
  routes: RouteTable;
  /** Serialises enable/disable/reload of this plugin. */
  lock: Promise<unknown>;
}

interface ServiceEntry {
  plugin: string;
  generation: Generation;
  handle: number;
  methods: string[];
}

/**
 * Owns every plugin of one Pincer instance: discovery, checks, threads, hot reload, services
 * between plugins, failure accounting. Nothing here is process-global.
 */
export class PluginManager {
  private readonly records = new Map<string, PluginRecord>();
  private readonly services = new Map<string, ServiceEntry>();
  /** Old generations finishing their messages; close() ends them without waiting. */
  private readonly retiring = new Set<Generation>();
  private readonly configResolver = new PluginConfigResolver();
  private readonly stateFile: PluginStateFile;
  private readonly listeners = new Set<(event: PluginEvent) => void>();
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private closed = false;
  private reconcileScheduled = false;

  constructor(private readonly deps: PluginManagerDeps) {
    this.log = deps.log.child({ component: 'plugins' });
    this.env = deps.env ?? process.env;
    this.stateFile = new PluginStateFile(deps.config.data_dir);
  }

  private get settings(): PincerConfig['plugins'] {
    return this.deps.config.plugins;
  }

  onEvent(listener: (event: PluginEvent) => void): Disposer {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Discover plugins and start the enabled ones; a plugin that fails never stops the others. */
  async start(): Promise<void> {
    this.rescan();
    const unknown = this.settings.enabled.filter((name) => !this.records.has(name));
    for (const name of unknown) this.log.warn({ event: 'plugin.unknown', plugin: name }, `plugins.enabled names "${name}", but no such plugin was found (see pincer plugin list)`);
    await Promise.all([...this.records.values()].filter((r) => this.wanted(r.name)).map((r) => this.locked(r, () => this.startRecord(r))));
    await this.reconcile();
  }

  list(): PluginView[] {
    this.rescan();
    return [...this.records.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.view(r));
  }

  /** One plugin, as currently on disk (a plugin added since the last look is found). */
  get(name: string): PluginView {
    this.rescan();
    return this.view(this.record(name));
  }

  /** The HTTP routes a plugin registered, for the catch-all /v1/plugins/<name>/* route. */
  routes(name: string): RouteTable | undefined {
    const record = this.records.get(name);
    return record?.current?.isActive ? record.routes : undefined;
  }

  async enable(name: string): Promise<PluginView> {
    this.rescan();
    const record = this.record(name);
    this.stateFile.set(name, true);
    await this.locked(record, async () => {
      if (!record.current) await this.startRecord(record);
    });
    await this.reconcile();
    return this.view(record);
  }

  async disable(name: string): Promise<PluginView> {
    const record = this.record(name);
    this.stateFile.set(name, false);
    await this.locked(record, () => this.stopRecord(record, 'disabled', 'disabled by an operator'));
    await this.reconcile();
    return this.view(record);
  }

  /** Start a new generation with the plugin's current code and config, then retire the old one. */
  async reload(name: string): Promise<PluginView> {
    this.rescan();
    const record = this.record(name);
    if (!this.wanted(name)) throw new PincerError('PLUGIN_NOT_ENABLED', `plugin ${name} is disabled; enable it instead of reloading`, 409);
    await this.locked(record, () => this.startRecord(record, { failOnError: true }));
    await this.reconcile();
    return this.view(record);
  }

  /** Install from a folder or an npm spec, then (optionally) enable or reload what it provides. */
  async install(source: string, options: { enable: boolean }): Promise<{ installed: InstallResult; plugins: PluginView[] }> {
    this.rescan();
    const before = new Map([...this.records.values()].map((r) => [r.name, `${r.found.dir}@${r.found.version}`]));
    const installed = await installPlugin(source, { root: this.settings.root, log: this.log });
    this.rescan();
    const names = [...this.records.values()].filter((r) => r.found.dir === installed.dir).map((r) => r.name);
    if (names.length === 0) throw new PincerError('PLUGIN_INSTALL_EMPTY', `${source} installed, but it provides no Pincer plugin (its package.json needs a "pincer" field)`, 422);
    // npm may also have updated other plugins as a side effect: running ones get their new code.
    const updated = [...this.records.values()].filter((r) => !names.includes(r.name) && before.has(r.name) && before.get(r.name) !== `${r.found.dir}@${r.found.version}`).map((r) => r.name);
    for (const name of [...names, ...updated]) {
      if (options.enable && names.includes(name) && !this.wanted(name)) await this.enable(name);
      else if (this.wanted(name)) await this.reload(name).catch((err: unknown) => this.log.error({ err, plugin: name }, `plugin ${name}: reload after install failed`));
    }
    return { installed, plugins: names.map((n) => this.view(this.record(n))) };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.records.values()].map((r) => this.locked(r, () => this.stopRecord(r, r.state, r.reason, { drain: false }))));
    await Promise.all([...this.retiring].map((g) => g.thread.stop(this.settings.call_timeout)));
  }

  // ---- internals -------------------------------------------------------------------------

  private wanted(name: string): boolean {
    return this.stateFile.isEnabled(name, this.settings.enabled);
  }

  private record(name: string): PluginRecord {
    const record = this.records.get(name);
    if (!record) throw new PincerError('PLUGIN_NOT_FOUND', `no plugin named "${name}" was found in ${this.settings.root}/plugins, ${this.settings.root}/node_modules${this.deps.bundledRoot ? ' or the bundled plugins' : ''}`, 404);
    return record;
  }

  /** Re-read manifests (cheap: package.json files only) so new and changed plugins show up. */
  private rescan(): void {
    const found = discoverPlugins({ root: this.settings.root, bundledRoot: this.settings.bundled ? this.deps.bundledRoot : undefined, pincerVersion: this.deps.version });
    for (const plugin of found) {
      const existing = this.records.get(plugin.name);
      if (existing) {
        // A duplicate never replaces the package that takes precedence.
        if (plugin.problem?.code !== 'PLUGIN_DUPLICATE' || existing.found.dir === plugin.dir) existing.found = plugin;
        continue;
      }
      this.records.set(plugin.name, {
        name: plugin.name,
        found: plugin,
        state: 'disabled',
        reason: undefined,
        error: undefined,
        health: { state: 'ok' },
        current: undefined,
        generations: 0,
        inject: [],
        provides: [],
        calls: 0,
        failures: 0,
        consecutiveFailures: 0,
        lastError: undefined,
        routes: new RouteTable(),
        lock: Promise.resolve(),
      });
    }
  }

  private locked<T>(record: PluginRecord, fn: () => Promise<T>): Promise<T> {
    const run = record.lock.then(fn, fn);
    record.lock = run.catch(() => undefined);
    return run;
  }

  private setState(record: PluginRecord, state: PluginState, reason?: string, error?: PluginProblem): void {
    const changed = record.state !== state || record.reason !== reason;
    record.state = state;
    record.reason = reason;
    record.error = error;
    if (!changed) return;
    const level = state === 'failed' || state === 'incompatible' ? 'error' : 'info';
    this.log[level]({ event: 'plugin.state', plugin: record.name, state, reason, code: error?.code, field: error?.field }, `plugin ${record.name}: ${state}${reason ? ` (${reason})` : ''}`);
    this.emit({ type: 'state', plugin: record.name, state, ...(reason ? { reason } : {}) });
  }

  /**
   * Start a generation of the plugin. If one is running this is a reload: the new one is
   * set up beside it, the two swap in one step, and the old one finishes its in-flight
   * messages before its thread ends. A failed reload leaves the old generation serving.
   */
  private async startRecord(record: PluginRecord, options: { failOnError?: boolean; afterCrash?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const failed = (state: 'failed' | 'incompatible', problem: PluginProblem): void => {
      const message = `${problem.code} ${problem.field}: ${problem.message}`;
      if (record.current) {
        this.log.error({ event: 'plugin.reload_failed', plugin: record.name, code: problem.code, field: problem.field }, `plugin ${record.name}: reload failed, generation ${record.current.number} keeps serving: ${problem.message}`);
      } else {
        this.setState(record, state, message, problem);
      }
      if (options.failOnError) throw new PincerError(problem.code, `plugin ${record.name}: ${problem.field}: ${problem.message}`, 422, { field: problem.field });
    };

    const found = record.found;
    if (found.problem) return failed(found.problem.code === 'PLUGIN_ENGINE_MISMATCH' ? 'incompatible' : 'failed', found.problem);
    const entry = found.entry;
    if (!entry) return failed('failed', { code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer.plugins', message: 'no entry module' });
    const resolved = this.configResolver.resolve(record.name, found.configPath, this.settings.config[record.name], this.env, [...this.records.keys()]);
    if (!resolved.ok) return failed('failed', resolved.problem);

    if (!record.current) this.setState(record, 'starting');
    const number = ++record.generations;
    // The listener's callbacks run only after this function has created `generation` below:
    // thread messages arrive asynchronously.
    const thread = new PluginThread(
      record.name,
      number,
      {
        plugin: record.name,
        moduleUrl: pathToFileURL(entry.modulePath).href,
        exportName: entry.exportName,
        config: resolved.config,
        pincer: { version: this.deps.version, botName: this.deps.config.bot.name, startedAt: this.deps.startedAt },
      },
      {
        register: (handle, spec) => generation.onRegister(handle, spec),
        unregister: (handle) => generation.onUnregister(handle),
        call: (call) => this.hostCall(record, call),
        log: (level, msg, fields) => this.log[level]({ plugin: record.name, generation: number, ...fields }, `plugin ${record.name}: ${msg}`),
        status: (state, detail) => {
          if (record.current !== generation) return;
          record.health = detail ? { state, detail } : { state };
          this.log[state === 'ok' ? 'info' : 'warn']({ event: 'plugin.health', plugin: record.name, health: state, detail }, `plugin ${record.name}: ${state}${detail ? ` (${detail})` : ''}`);
        },
        crashed: (error) => void this.onCrash(record, generation, error),
      },
      this.settings.memory_limit,
    );
    const generation = new Generation(
      thread,
      (gen, handle, spec) => this.attach(record, gen, handle, spec),
      (err, spec) => {
        // A registration made after setup that cannot be attached (a name clash, say) is the
        // plugin's error, never Pincer's: it is logged and counted, and the bot carries on.
        this.log.error({ event: 'plugin.register_failed', plugin: record.name, spec, err }, `plugin ${record.name}: ${errorMessage(err)}`);
        if (record.current === generation) this.countFailure(record, err);
      },
    );

    try {
      const declared = await thread.load(this.settings.call_timeout);
      const missing = declared.inject.filter((service) => !this.services.has(service));
      if (missing.length > 0) {
        await thread.stop(this.settings.call_timeout);
        const reason = `needs service${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which no enabled plugin provides yet`;
        if (record.current && !options.afterCrash) {
          // A reload must not turn a serving plugin into a waiting one.
          this.log.error({ event: 'plugin.reload_failed', plugin: record.name, code: 'PLUGIN_SERVICE_UNAVAILABLE' }, `plugin ${record.name}: reload failed, generation ${record.current.number} keeps serving: ${reason}`);
          if (options.failOnError) throw new PincerError('PLUGIN_SERVICE_UNAVAILABLE', `plugin ${record.name}: ${reason}`, 409);
          return;
        }
        record.inject = declared.inject;
        record.provides = declared.provides;
        if (record.current) {
          record.current.deactivate();
          record.current = undefined;
        }
        this.setState(record, 'waiting', reason);
        return;
      }
      await thread.setup(this.settings.call_timeout);
      const previous = record.current;
      previous?.deactivate();
      try {
        generation.activate();
      } catch (err) {
        previous?.activate();
        throw err;
      }
      record.current = generation;
      record.inject = declared.inject;
      record.provides = declared.provides;
      // A restart after a crash keeps counting: a plugin that keeps crashing gets disabled.
      if (!options.afterCrash) record.consecutiveFailures = 0;
      if (previous) {
        record.health = { state: 'ok' };
        this.log.info({ event: 'plugin.reloaded', plugin: record.name, generation: number }, `plugin ${record.name}: generation ${number} serving, generation ${previous.number} finishing its messages`);
        void this.retire(record, previous);
      }
      this.setState(record, 'enabled');
    } catch (err) {
      await thread.stop(this.settings.call_timeout).catch(() => undefined);
      const code = err instanceof PincerError ? err.code : 'PLUGIN_SETUP_FAILED';
      failed('failed', { code, field: code === 'PLUGIN_LOAD_FAILED' || code === 'PLUGIN_EXPORT_INVALID' ? `pincer.plugins.${record.name}` : 'setup', message: errorMessage(err).replace(`plugin ${record.name}: `, '') });
    }
  }

  /** Let an old generation finish the messages that started on it, then end its thread. */
  private async retire(record: PluginRecord, generation: Generation): Promise<void> {
    this.retiring.add(generation);
    try {
      const drained = await generation.thread.drain(this.settings.drain_timeout);
      if (!drained) this.log.warn({ event: 'plugin.drain_timeout', plugin: record.name, generation: generation.number }, `plugin ${record.name}: generation ${generation.number} still busy after ${this.settings.drain_timeout} ms; stopping it`);
      await generation.thread.stop(this.settings.call_timeout);
    } finally {
      this.retiring.delete(generation);
    }
  }

  private async stopRecord(record: PluginRecord, state: PluginState, reason: string | undefined, options: { drain?: boolean } = {}): Promise<void> {
    const generation = record.current;
    record.current = undefined;
    record.health = { state: 'ok' };
    this.setState(record, state, reason, state === 'disabled' ? undefined : record.error);
    if (!generation) return;
    generation.deactivate();
    if (options.drain === false) await generation.thread.stop(this.settings.call_timeout);
    else await this.retire(record, generation);
  }

  /**
   * A thread died on its own. Its registrations stay in place (calls fail fast, so no message
   * silently skips the plugin) until a new generation swaps in, exactly as on a reload.
   */
  private async onCrash(record: PluginRecord, generation: Generation, error: PincerError): Promise<void> {
    if (record.current !== generation) return;
    this.countFailure(record, error);
    if (record.current !== generation) return; // that failure disabled it
    this.log.error({ event: 'plugin.crashed', plugin: record.name, generation: generation.number, err: error }, `${error.message}; restarting`);
    // Back off before restarting, so a plugin that dies at once does not spin.
    const delay = Math.min(30_000, 250 * 2 ** Math.max(0, record.consecutiveFailures - 1));
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
    await this.locked(record, async () => {
      if (record.current !== generation || this.closed) return;
      await this.startRecord(record, { afterCrash: true });
      if (record.current === generation) {
        // The restart failed too: nothing is left to serve the plugin's registrations.
        generation.deactivate();
        record.current = undefined;
        this.setState(record, 'failed', `its thread died and restarting failed; see the log`, { code: 'PLUGIN_CRASHED', field: 'thread', message: error.message });
      }
    });
  }

  /**
   * Make one registration visible. Each becomes a core pipeline object whose calls go to
   * the plugin thread; the returned disposer undoes exactly that.
   */
  private attach(record: PluginRecord, generation: Generation, handle: number, spec: RegistrationSpec): Disposer {
    const thread = generation.thread;
    const call = (kind: InvokeKind, input: JsonValue, signal: AbortSignal | undefined, extra: { method?: string; onStream?: (d: string) => void; timeoutMs?: number } = {}) =>
      this.tracked(record, generation, kind, () => thread.invoke(handle, kind, input, { signal, ...extra }));
    const owner = thread;
    switch (spec.kind) {
      case 'analyzer':
        return this.deps.registry.addAnalyzer({ name: spec.name, plugin: record.name, analyze: (ctx) => call('analyze', stageInput(ctx), ctx.signal) }, owner);
      case 'responder':
        return this.deps.registry.addResponder(
          {
            name: spec.name,
            plugin: record.name,
            order: spec.order,
            respond: async (ctx) => {
              const value = await call('respond', stageInput(ctx), ctx.signal, { onStream: ctx.stream });
              return value === undefined || value === null ? undefined : toReply(record.name, `responder ${spec.name}`, value);
            },
          },
          owner,
        );
      case 'command': {
        const command: Command = {
          name: spec.name,
          plugin: record.name,
          description: spec.description,
          ...(spec.usage ? { usage: spec.usage } : {}),
          run: async (ctx) => {
            const value = await call('command', { ...stageInput(ctx), args: ctx.args }, ctx.signal);
            return typeof value === 'string' ? value : toReply(record.name, `command /${spec.name}`, value);
          },
        };
        return this.deps.registry.addCommand(command, owner);
      }
      case 'hooks':
        return this.deps.registry.addHooks(
          {
            name: spec.name,
            plugin: record.name,
            ...(spec.before ? { before: async (ctx: StageContext) => void (await call('before', stageInput(ctx), ctx.signal, { method: 'before' })) } : {}),
            ...(spec.after ? { after: async (ctx: StageContext, reply) => void (await call('after', { ...stageInput(ctx), reply: { ...reply } as JsonObject }, ctx.signal, { method: 'after' })) } : {}),
          },
          owner,
        );
      case 'route':
        return record.routes.add(spec.method, spec.path, {
          invoke: (request) => this.holding(thread, () => call('route', request as unknown as JsonValue, undefined, { timeoutMs: this.settings.call_timeout })),
        });
      case 'service': {
        const holder = this.services.get(spec.name);
        if (holder && holder.plugin !== record.name) {
          throw new PincerError('PLUGIN_SERVICE_CONFLICT', `plugin ${record.name}: service "${spec.name}" is already provided by plugin ${holder.plugin}`, 409);
        }
        const entry: ServiceEntry = { plugin: record.name, generation, handle, methods: spec.methods };
        this.services.set(spec.name, entry);
        this.scheduleReconcile();
        return () => {
          if (this.services.get(spec.name) === entry) this.services.delete(spec.name);
          this.scheduleReconcile();
        };
      }
    }
  }

  /** A route or service call keeps its generation alive until it answers, as messages do. */
  private async holding<T>(thread: PluginThread, run: () => Promise<T>): Promise<T> {
    thread.acquire();
    try {
      return await run();
    } finally {
      thread.release();
    }
  }

  /**
   * Count a call's outcome; consecutive failures past the limit disable the plugin. Only the
   * current generation counts: an old one finishing its messages cannot disable its successor.
   * Route and service calls count only timeouts, since their input comes from outside.
   */
  private async tracked<T>(record: PluginRecord, generation: Generation, kind: InvokeKind, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    record.calls++;
    try {
      const value = await run();
      if (record.current === generation) record.consecutiveFailures = 0;
      this.emit({ type: 'call', plugin: record.name, kind, ok: true, ms: performance.now() - started });
      return value;
    } catch (err) {
      this.emit({ type: 'call', plugin: record.name, kind, ok: false, ms: performance.now() - started });
      // Shutdown aborts are nobody's fault; timeouts and errors are the plugin's.
      // A crash is counted once, when the thread dies, however many calls it takes down.
      const shutdown = err instanceof Error && !(err instanceof StageTimeoutError) && /shutting down/.test(err.message);
      const crash = err instanceof PincerError && err.code === 'PLUGIN_CRASHED';
      const external = (kind === 'route' || kind === 'service') && !(err instanceof PincerError && err.code === 'PLUGIN_TIMEOUT');
      if (!shutdown && !crash && !external && !this.closed && record.current === generation) this.countFailure(record, err);
      throw err;
    }
  }

  private countFailure(record: PluginRecord, err: unknown): void {
    record.failures++;
    record.consecutiveFailures++;
    record.lastError = errorMessage(err);
    if (record.consecutiveFailures < this.settings.max_failures || !record.current) return;
    const failures = record.consecutiveFailures;
    const lastError = record.lastError;
    this.log.error({ event: 'plugin.auto_disabled', plugin: record.name, failures, lastError }, `plugin ${record.name}: disabled after ${failures} consecutive failures (last: ${lastError}); enable it again with: pincer plugin enable ${record.name}`);
    this.emit({ type: 'auto_disabled', plugin: record.name, failures, lastError });
    const generation = record.current;
    record.current = undefined;
    generation.deactivate();
    this.setState(record, 'failed', `disabled after ${failures} consecutive failures; last: ${lastError}`, { code: 'PLUGIN_AUTO_DISABLED', field: 'calls', message: lastError });
    // A hung thread would never drain; it is ended at once.
    void generation.thread.stop(this.settings.call_timeout);
    this.scheduleReconcile();
  }

  private async hostCall(record: PluginRecord, call: ThreadCall): Promise<JsonValue | undefined> {
    if (call.target === 'pincer') {
      if (call.method === 'stats') return (await this.deps.stats()) as unknown as JsonValue;
      return this.commandInfos() as unknown as JsonValue;
    }
    if (!record.inject.includes(call.service)) throw new PincerError('PLUGIN_SERVICE_UNDECLARED', `service "${call.service}" is not in plugin ${record.name}'s inject list`);
    const provider = this.services.get(call.service);
    if (!provider) throw new PincerError('PLUGIN_SERVICE_UNAVAILABLE', `service "${call.service}" is not provided by any running plugin`);
    if (!provider.methods.includes(call.method)) {
      throw new PincerError('PLUGIN_SERVICE_NO_METHOD', `service "${call.service}" (plugin ${provider.plugin}) has no method "${call.method}"; it offers ${provider.methods.join(', ') || 'none'}`);
    }
    const providerRecord = this.records.get(provider.plugin) as PluginRecord;
    const thread = provider.generation.thread;
    return this.holding(thread, () =>
      this.tracked(providerRecord, provider.generation, 'service', () => thread.invoke(provider.handle, 'service', call.args, { method: call.method, timeoutMs: this.settings.call_timeout })),
    );
  }

  private commandInfos(): CommandInfo[] {
    return [...this.deps.registry.commands.values()].map((c) => ({
      name: c.name,
      description: c.description,
      ...(c.usage ? { usage: c.usage } : {}),
      ...(c.plugin ? { plugin: c.plugin } : {}),
    }));
  }

  private scheduleReconcile(): void {
    if (this.reconcileScheduled || this.closed) return;
    this.reconcileScheduled = true;
    setImmediate(() => {
      this.reconcileScheduled = false;
      void this.reconcile();
    });
  }

  /**
   * Bring service dependencies in line: a plugin whose injected service went away waits;
   * a waiting plugin whose services all exist starts.
   */
  private async reconcile(): Promise<void> {
    if (this.closed) return;
    for (const record of this.records.values()) {
      const missing = record.inject.filter((s) => !this.services.has(s));
      if (record.current && missing.length > 0) {
        await this.locked(record, async () => {
          const still = record.inject.filter((s) => !this.services.has(s));
          if (record.current && still.length > 0) await this.stopRecord(record, 'waiting', `needs service ${still.join(', ')}, which no enabled plugin provides now`);
        });
      } else if (record.state === 'waiting' && missing.length === 0 && this.wanted(record.name)) {
        // Checked again under the lock: another reconcile may have started it meanwhile.
        await this.locked(record, async () => {
          if (record.state === 'waiting' && !record.current) await this.startRecord(record);
        });
      }
    }
  }

  private emit(event: PluginEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'plugin event listener failed');
      }
    }
  }

  private view(record: PluginRecord): PluginView {
    const registered: PluginView['registered'] = { analyzers: [], responders: [], commands: [], hooks: [], routes: [], services: [] };
    for (const spec of record.current?.specs.values() ?? []) {
      if (spec.kind === 'analyzer') registered.analyzers.push(spec.name);
      else if (spec.kind === 'responder') registered.responders.push(spec.name);
      else if (spec.kind === 'command') registered.commands.push(spec.name);
      else if (spec.kind === 'hooks') registered.hooks.push(spec.name);
      else if (spec.kind === 'route') registered.routes.push(`${spec.method} /v1/plugins/${record.name}${spec.path}`);
      else registered.services.push(spec.name);
    }
    const problem = record.state === 'disabled' || record.state === 'enabled' ? record.found.problem : (record.error ?? record.found.problem);
    let state = record.state;
    let reason = record.reason;
    if (state === 'disabled' && record.found.problem) {
      // Not running, but say why it could not run if it were enabled.
      state = record.found.problem.code === 'PLUGIN_ENGINE_MISMATCH' ? 'incompatible' : 'failed';
      reason = `${record.found.problem.code} ${record.found.problem.field}: ${record.found.problem.message}`;
    } else if (state === 'disabled' && !reason) {
      reason = this.wanted(record.name) ? 'not started' : this.stateFile.override(record.name) === false ? 'disabled by an operator' : 'not in plugins.enabled';
    }
    return {
      name: record.name,
      packageName: record.found.packageName,
      version: record.found.version,
      source: record.found.source,
      dir: record.found.dir,
      state,
      ...(reason ? { reason } : {}),
      ...(problem && state !== 'enabled' ? { error: problem } : {}),
      health: record.health,
      generation: record.current?.number ?? 0,
      inject: record.inject,
      provides: record.provides,
      registered,
      calls: record.calls,
      failures: record.failures,
      consecutiveFailures: record.consecutiveFailures,
      ...(record.lastError ? { lastError: record.lastError } : {}),
    };
  }
}

function pluginMessage(message: Readonly<MessageRecord>): PluginMessage {
  return {
    id: message.id,
    conversationId: message.conversationId,
    text: message.text,
    sender: message.sender,
    channel: message.channel,
    priority: message.priority,
    metadata: message.metadata,
    attempts: message.attempts,
  };
}

function stageInput(ctx: StageContext): JsonObject {
  return { message: pluginMessage(ctx.message) as unknown as JsonObject, analysis: ctx.analysis };
}

function toReply(plugin: string, what: string, value: JsonValue | undefined): ResponderReply {
  const reply = value as { text?: unknown; data?: unknown } | null;
  if (!reply || typeof reply !== 'object' || typeof reply.text !== 'string') {
    throw new PincerError('PLUGIN_BAD_REPLY', `plugin ${plugin}: ${what} returned ${JSON.stringify(value)?.slice(0, 100)}, expected a string or {text, data?}`);
  }
  const data = reply.data && typeof reply.data === 'object' && !Array.isArray(reply.data) ? (reply.data as JsonObject) : undefined;
  return { text: reply.text, ...(data ? { data } : {}) };
}

/** Turn a route handler's answer into status, headers and body. */
export function toRouteResponse(value: unknown): Required<Pick<RouteResponse, 'status'>> & RouteResponse {
  // An envelope only when every key is one of status/headers/body and status is a number;
  // other objects are JSON data, whatever their keys.
  const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  const envelope = keys.length > 0 && keys.every((k) => k === 'status' || k === 'headers' || k === 'body') && ['number', 'undefined'].includes(typeof (value as RouteResponse).status);
  if (envelope) {
    const r = value as RouteResponse;
    return { status: r.status ?? 200, ...(r.headers ? { headers: r.headers } : {}), ...(r.body !== undefined ? { body: r.body } : {}) };
  }
  return { status: value === undefined ? 204 : 200, ...(value !== undefined ? { body: value as JsonValue } : {}) };
}

export type { HttpMethod };
