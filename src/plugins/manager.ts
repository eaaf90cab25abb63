import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError } from '../errors.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Disposer } from '../pipeline/types.js';
import { discoverPlugins } from './discovery.js';
import { FailurePolicy } from './failure-policy.js';
import { callHostMethod, hostMethods, type HostMethodTable, type PluginHostServices } from './host-api.js';
import { installPlugin, type InstallResult } from './install.js';
import { Lifecycle } from './lifecycle.js';
import { PluginStateFile } from './plugin-state.js';
import type { HostCallIo, ThreadCall } from './plugin-thread.js';
import { attachRegistration } from './registrations.js';
import type { RouteTable } from './route-table.js';
import { Listeners } from '../util/listeners.js';
import type { CommandInfo, JsonValue } from './sdk.js';
import { ServiceTable } from './services.js';
import { declaredServices, newSlot, type PluginSlot } from './slot.js';
import { toView, type PluginEvent, type PluginView } from './view.js';

export type { PluginEvent, PluginState, PluginView } from './view.js';

export interface PluginManagerDeps {
  config: PincerConfig;
  registry: PipelineRegistry;
  log: Logger;
  version: string;
  /** Pincer's install folder (bundled plugins), or undefined to skip them. */
  bundledRoot: string | undefined;
  startedAt: number;
  /** What plugins may ask of the rest of Pincer: queue figures, enqueue, the model layer. */
  host: PluginHostServices;
  /** Where PINCER_PLUGIN_<NAME>_<KEY> settings are read; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Plugins wanted besides plugins.enabled (a configured channel's); an operator's disable still wins. */
  alsoEnabled?: readonly string[];
}

/**
 * Owns every plugin of one Pincer instance: what discovery found (cached: listing reads no
 * disk), which ones should run, and the operations on them. Nothing here is process-global.
 */
export class PluginManager {
  private readonly slots = new Map<string, PluginSlot>();
  private readonly stateFile: PluginStateFile;
  private readonly listeners: Listeners<[PluginEvent]>;
  private readonly log: Logger;
  private readonly services: ServiceTable;
  private readonly policy: FailurePolicy;
  private readonly lifecycle: Lifecycle;
  private readonly hostTable: HostMethodTable;
  private closed = false;
  private reconcileScheduled = false;

  constructor(private readonly deps: PluginManagerDeps) {
    this.log = deps.log.child({ component: 'plugins' });
    this.listeners = new Listeners((err) => this.log.error({ err }, 'plugin event listener failed'));
    this.stateFile = new PluginStateFile(deps.config.data_dir);
    this.services = new ServiceTable(() => this.reconcileSoon());
    this.policy = new FailurePolicy({
      maxFailures: () => this.settings.max_failures,
      closed: () => this.closed,
      emit: (event) => this.emit(event),
      autoDisable: (slot, failures, lastError) => this.lifecycle.autoDisable(slot, failures, lastError),
    });
    const attach = { registry: deps.registry, services: this.services, policy: this.policy, callTimeout: () => this.settings.call_timeout };
    this.lifecycle = new Lifecycle({
      settings: () => this.settings,
      log: this.log,
      pincer: { version: deps.version, botName: deps.config.bot.name, startedAt: deps.startedAt },
      env: deps.env ?? process.env,
      services: this.services,
      policy: this.policy,
      attach: (slot, generation, handle, spec) => attachRegistration(attach, slot, generation, handle, spec),
      hostCall: (slot, call, io) => this.hostCall(slot, call, io),
      emit: (event) => this.emit(event),
      names: () => [...this.slots.keys()],
      closed: () => this.closed,
      reconcileSoon: () => this.reconcileSoon(),
    });
    const limits = { maxTextLength: deps.config.server.max_text_length, maxMetadataDepth: deps.config.queue.max_metadata_depth, maxMetadataBytes: deps.config.queue.max_metadata_bytes };
    this.hostTable = hostMethods(deps.host, () => this.commandInfos(), limits);
  }

  private get settings(): PincerConfig['plugins'] {
    return this.deps.config.plugins;
  }

  onEvent(listener: (event: PluginEvent) => void): Disposer {
    return this.listeners.add(listener);
  }

  /**
   * Discover plugins and start the wanted ones, providers before the plugins that inject
   * their services (both known from the manifests). A plugin that fails never stops the others.
   */
  async start(): Promise<void> {
    this.refresh();
    const unknown = this.settings.enabled.filter((name) => !this.slots.has(name));
    for (const name of unknown) this.log.warn({ event: 'plugin.unknown', plugin: name }, `plugins.enabled names "${name}", but no such plugin was found (see pincer plugin list)`);
    for (const wave of startOrder([...this.slots.values()].filter((s) => this.wanted(s.name)))) {
      await Promise.all(wave.map((slot) => slot.lock.run(() => this.lifecycle.start(slot, 'start'))));
    }
    await this.reconcile();
  }

  /** Every plugin found, from the cache (no disk I/O: the metrics call this on every scrape). */
  list(): PluginView[] {
    return [...this.slots.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => this.view(s));
  }

  /** One plugin; a name not in the cache rescans first, so a plugin added since is found. */
  get(name: string): PluginView {
    return this.view(this.slot(name));
  }

  /** The HTTP routes a plugin registered, for the catch-all /v1/plugins/<name>/* route. */
  routes(name: string): RouteTable | undefined {
    const slot = this.slots.get(name);
    return slot?.current?.isActive ? slot.routes : undefined;
  }

  async enable(name: string): Promise<PluginView> {
    this.refresh();
    const slot = this.slot(name);
    this.stateFile.set(name, true);
    await slot.lock.run(async () => {
      if (!slot.current) await this.lifecycle.start(slot, 'start');
    });
    await this.reconcile();
    return this.view(slot);
  }

  async disable(name: string): Promise<PluginView> {
    const slot = this.slot(name);
    this.stateFile.set(name, false);
    await slot.lock.run(() => this.lifecycle.stop(slot, 'disabled', 'disabled by an operator'));
    await this.reconcile();
    return this.view(slot);
  }

  /** Start a new generation with the plugin's current code, manifest and config, then retire the old one. */
  async reload(name: string): Promise<PluginView> {
    this.refresh();
    const slot = this.slot(name);
    if (!this.wanted(name)) throw new PincerError('PLUGIN_NOT_ENABLED', `plugin ${name} is disabled; enable it instead of reloading`);
    await slot.lock.run(() => this.lifecycle.start(slot, 'reload'));
    await this.reconcile();
    return this.view(slot);
  }

  /** Install from a folder or an npm spec, then (optionally) enable or reload what it provides. */
  async install(source: string, options: { enable: boolean }): Promise<{ installed: InstallResult; plugins: PluginView[] }> {
    this.refresh();
    const before = new Map([...this.slots.values()].map((s) => [s.name, `${s.found.dir}@${s.found.version}`]));
    const installed = await installPlugin(source, { root: this.settings.root, log: this.log });
    this.refresh();
    const names = [...this.slots.values()].filter((s) => s.found.dir === installed.dir).map((s) => s.name);
    if (names.length === 0) throw new PincerError('PLUGIN_INSTALL_EMPTY', `${source} installed, but it provides no Pincer plugin (its package.json needs a "pincer" field)`);
    // npm may also have updated other plugins as a side effect: running ones get their new code.
    const updated = [...this.slots.values()].filter((s) => !names.includes(s.name) && before.has(s.name) && before.get(s.name) !== `${s.found.dir}@${s.found.version}`).map((s) => s.name);
    for (const name of [...names, ...updated]) {
      if (options.enable && names.includes(name) && !this.wanted(name)) await this.enable(name);
      else if (this.wanted(name)) await this.reload(name).catch((err: unknown) => this.log.error({ err, plugin: name }, `plugin ${name}: reload after install failed`));
    }
    return { installed, plugins: names.map((n) => this.view(this.slot(n))) };
  }

  /**
   * Re-read the manifests (package.json files only) so new and changed plugins show up. Run by
   * start, enable, reload and install, and on demand (POST /v1/admin/plugins/rescan).
   */
  refresh(): PluginView[] {
    const found = discoverPlugins({ root: this.settings.root, bundledRoot: this.settings.bundled ? this.deps.bundledRoot : undefined, pincerVersion: this.deps.version });
    for (const plugin of found) {
      const existing = this.slots.get(plugin.name);
      if (!existing) this.slots.set(plugin.name, newSlot(plugin));
      // A duplicate never replaces the package that takes precedence.
      else if (plugin.problem?.code !== 'PLUGIN_DUPLICATE' || existing.found.dir === plugin.dir) existing.found = plugin;
    }
    return this.list();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.slots.values()].map((s) => s.lock.run(() => this.lifecycle.stop(s, s.state, s.reason, { drain: false }))));
    await this.lifecycle.stopRetiring();
  }

  // ---- internals -------------------------------------------------------------------------

  private wanted(name: string): boolean {
    return this.stateFile.isEnabled(name, this.deps.alsoEnabled?.length ? [...this.settings.enabled, ...this.deps.alsoEnabled] : this.settings.enabled);
  }

  private view(slot: PluginSlot): PluginView {
    return toView(slot, { wanted: this.wanted(slot.name), byOperator: this.stateFile.override(slot.name) });
  }

  private slot(name: string): PluginSlot {
    if (!this.slots.has(name)) this.refresh();
    const slot = this.slots.get(name);
    if (!slot) throw new PincerError('PLUGIN_NOT_FOUND', `no plugin named "${name}" was found in ${this.settings.root}/plugins, ${this.settings.root}/node_modules${this.deps.bundledRoot ? ' or the bundled plugins' : ''}`);
    return slot;
  }

  private async hostCall(slot: PluginSlot, call: ThreadCall, io: HostCallIo): Promise<JsonValue | undefined> {
    if (call.target === 'pincer') return callHostMethod(this.hostTable, call.method, call.args, io);
    if (call.target === 'channel') return this.deps.host.channels.call(slot.name, call.method, call.args);
    const provider = this.services.resolve(slot.name, declaredServices(slot).inject, call.service, call.method);
    const providerSlot = this.slots.get(provider.plugin) as PluginSlot;
    const thread = provider.generation.thread;
    return provider.generation.hold(() => this.policy.tracked(providerSlot, provider.generation, 'service', () => thread.invoke(provider.handle, 'service', call.args, { method: call.method, timeoutMs: this.settings.call_timeout })));
  }

  private commandInfos(): CommandInfo[] {
    return [...this.deps.registry.commands.values()].map((c) => ({
      name: c.name,
      description: c.description,
      ...(c.usage ? { usage: c.usage } : {}),
      ...(c.plugin ? { plugin: c.plugin } : {}),
    }));
  }

  private reconcileSoon(): void {
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
    for (const slot of this.slots.values()) {
      const { inject } = declaredServices(slot);
      const missing = this.services.missing(inject);
      if (slot.current && missing.length > 0) {
        await slot.lock.run(async () => {
          const still = this.services.missing(inject);
          if (slot.current && still.length > 0) await this.lifecycle.stop(slot, 'waiting', `needs service ${still.join(', ')}, which no enabled plugin provides now`);
        });
      } else if (slot.state === 'waiting' && missing.length === 0 && this.wanted(slot.name)) {
        // Checked again under the lock: another reconcile may have started it meanwhile.
        await slot.lock.run(async () => {
          if (slot.state === 'waiting' && !slot.current) await this.lifecycle.start(slot, 'start');
        });
      }
    }
  }

  private emit(event: PluginEvent): void {
    this.listeners.emit(event);
  }
}

/**
 * Waves of plugins to start together: each wave's services are provided by earlier waves (or
 * by no wanted plugin at all, in which case the plugin goes on to wait).
 */
function startOrder(slots: PluginSlot[]): PluginSlot[][] {
  const providerOf = new Map<string, PluginSlot>();
  for (const slot of slots) for (const service of declaredServices(slot).provides) providerOf.set(service, slot);
  const waves: PluginSlot[][] = [];
  const placed = new Set<PluginSlot>();
  let left = slots;
  while (left.length > 0) {
    const ready = left.filter((slot) => declaredServices(slot).inject.every((s) => {
      const provider = providerOf.get(s);
      return !provider || provider === slot || placed.has(provider);
    }));
    // A cycle: start the rest together; whoever finds a service missing waits for it.
    const wave = ready.length > 0 ? ready : left;
    waves.push(wave);
    for (const slot of wave) placed.add(slot);
    left = left.filter((slot) => !placed.has(slot));
  }
  return waves;
}
