import { Serial } from '../util/serial.js';
import type { DiscoveredPlugin } from './discovery.js';
import type { Generation } from './generation.js';
import type { PluginProblem } from './manifest.js';
import { RouteTable } from './route-table.js';

/** What a plugin is doing: `enabled` means a generation serves. Whether it is wanted is `PluginView.wanted`. */
export type PluginState = 'enabled' | 'disabled' | 'failed' | 'incompatible' | 'waiting' | 'starting';

export interface PluginHealth {
  state: 'ok' | 'unavailable';
  detail?: string;
}

/**
 * Everything Pincer keeps about one plugin name across its generations: what discovery found,
 * what runs now, and the failure counts. (Not a MessageRecord: plugins have slots.)
 */
export interface PluginSlot {
  readonly name: string;
  found: DiscoveredPlugin;
  state: PluginState;
  reason: string | undefined;
  error: PluginProblem | undefined;
  health: PluginHealth;
  current: Generation | undefined;
  generations: number;
  calls: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | undefined;
  readonly routes: RouteTable;
  /** Serialises enable/disable/reload/restart of this plugin. */
  readonly lock: Serial;
}

export function newSlot(found: DiscoveredPlugin): PluginSlot {
  return {
    name: found.name,
    found,
    state: 'disabled',
    reason: undefined,
    error: undefined,
    health: { state: 'ok' },
    current: undefined,
    generations: 0,
    calls: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastError: undefined,
    routes: new RouteTable(),
    lock: new Serial(),
  };
}

/** The services a plugin needs and offers, from its manifest: known before any of its code runs. */
export function declaredServices(slot: PluginSlot): { inject: string[]; provides: string[] } {
  return { inject: slot.found.entry?.inject ?? [], provides: slot.found.entry?.provides ?? [] };
}
