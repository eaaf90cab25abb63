import { PincerError } from '../errors.js';
import type { Disposer } from '../pipeline/types.js';
import type { Generation } from './generation.js';

export interface ServiceEntry {
  plugin: string;
  generation: Generation;
  handle: number;
  methods: string[];
}

/**
 * Services between plugins: who provides which name now. Providing and withdrawing a service
 * tells `changed`, so plugins that need it start or go back to waiting.
 */
export class ServiceTable {
  private readonly entries = new Map<string, ServiceEntry>();

  constructor(private readonly changed: () => void) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The services of `inject` that no running plugin provides. */
  missing(inject: readonly string[]): string[] {
    return inject.filter((name) => !this.entries.has(name));
  }

  provide(name: string, entry: ServiceEntry): Disposer {
    const holder = this.entries.get(name);
    if (holder && holder.plugin !== entry.plugin) {
      throw new PincerError('PLUGIN_SERVICE_CONFLICT', `plugin ${entry.plugin}: service "${name}" is already provided by plugin ${holder.plugin}`);
    }
    this.entries.set(name, entry);
    this.changed();
    return () => {
      if (this.entries.get(name) === entry) this.entries.delete(name);
      this.changed();
    };
  }

  /** Find the provider of a call from plugin `caller`, checked against what it declared. */
  resolve(caller: string, inject: readonly string[], service: string, method: string): ServiceEntry {
    if (!inject.includes(service)) throw new PincerError('PLUGIN_SERVICE_UNDECLARED', `service "${service}" is not in plugin ${caller}'s inject list`);
    const provider = this.entries.get(service);
    if (!provider) throw new PincerError('PLUGIN_SERVICE_UNAVAILABLE', `service "${service}" is not provided by any running plugin`);
    if (!provider.methods.includes(method)) {
      throw new PincerError('PLUGIN_SERVICE_NO_METHOD', `service "${service}" (plugin ${provider.plugin}) has no method "${method}"; it offers ${provider.methods.join(', ') || 'none'}`);
    }
    return provider;
  }
}
