import type { PluginProblem } from './manifest.js';
import type { InvokeKind } from './protocol.js';
import { declaredServices, type PluginHealth, type PluginSlot, type PluginState } from './slot.js';

export type { PluginState } from './slot.js';

export interface PluginView {
  name: string;
  packageName: string;
  version: string;
  source: string;
  dir: string;
  /** What it does now (`enabled`: a generation serves). */
  state: PluginState;
  /** Whether it should run (plugins.enabled, or an operator's enable/disable). */
  wanted: boolean;
  /** Why the plugin is not enabled, or what it reported about itself. */
  reason?: string;
  error?: PluginProblem;
  /** What the running plugin says about itself (e.g. a missing system package). */
  health: PluginHealth;
  generation: number;
  /** From the manifest, so shown for a plugin that never started. */
  inject: string[];
  provides: string[];
  registered: { analyzers: string[]; responders: string[]; commands: string[]; hooks: string[]; routes: string[]; services: string[]; tools: string[]; channels: string[] };
  calls: number;
  failures: number;
  consecutiveFailures: number;
  lastError?: string;
}

/** Metric-ready events. */
export type PluginEvent =
  | { type: 'state'; plugin: string; state: PluginState; reason?: string }
  | { type: 'call'; plugin: string; kind: InvokeKind; ok: boolean; ms: number }
  | { type: 'auto_disabled'; plugin: string; failures: number; lastError: string };

const LISTS = { analyzer: 'analyzers', responder: 'responders', command: 'commands', hooks: 'hooks', service: 'services', tool: 'tools', channel: 'channels' } as const;

/** The admin API's and `pincer plugin list`'s picture of one plugin. Reads memory only. */
export function toView(slot: PluginSlot, wanted: { wanted: boolean; byOperator: boolean | undefined }): PluginView {
  const registered: PluginView['registered'] = { analyzers: [], responders: [], commands: [], hooks: [], routes: [], services: [], tools: [], channels: [] };
  for (const spec of slot.current?.specs.values() ?? []) {
    if (spec.kind === 'route') registered.routes.push(`${spec.method} /v1/plugins/${slot.name}${spec.path}`);
    else registered[LISTS[spec.kind]].push(spec.name);
  }
  const found = slot.found;
  const problem = slot.state === 'disabled' || slot.state === 'enabled' ? found.problem : (slot.error ?? found.problem);
  let state = slot.state;
  let reason = slot.reason;
  if (state === 'disabled' && found.problem) {
    // Not running, but say why it could not run if it were enabled.
    state = found.problem.code === 'PLUGIN_ENGINE_MISMATCH' ? 'incompatible' : 'failed';
    reason = `${found.problem.code} ${found.problem.field}: ${found.problem.message}`;
  } else if (state === 'disabled' && !reason) {
    reason = wanted.wanted ? 'not started' : wanted.byOperator === false ? 'disabled by an operator' : 'not in plugins.enabled';
  }
  const { inject, provides } = declaredServices(slot);
  return {
    name: slot.name,
    packageName: found.packageName,
    version: found.version,
    source: found.source,
    dir: found.dir,
    state,
    wanted: wanted.wanted,
    ...(reason ? { reason } : {}),
    ...(problem && state !== 'enabled' ? { error: problem } : {}),
    health: slot.health,
    generation: slot.current?.number ?? 0,
    inject,
    provides,
    registered,
    calls: slot.calls,
    failures: slot.failures,
    consecutiveFailures: slot.consecutiveFailures,
    ...(slot.lastError ? { lastError: slot.lastError } : {}),
  };
}
