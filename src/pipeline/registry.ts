import { Listeners } from '../util/listeners.js';
import { PincerError } from '../errors.js';
import type { Analyzer, Channel, Command, Disposer, Hooks, Responder, Tool } from './types.js';
import { checkToolExamples } from '../models/local/examples.js';

/**
 * Who a registration belongs to. A plugin generation counts the messages using its
 * registrations, so a reload lets in-flight messages finish on the old code.
 */
export interface RegistrationOwner {
  acquire(): void;
  release(): void;
}

/** Everything one message runs with, fixed when it starts. */
export interface RegistrySnapshot {
  readonly analyzers: readonly Analyzer[];
  readonly responders: readonly Responder[];
  readonly hooks: readonly Hooks[];
  readonly commands: ReadonlyMap<string, Command>;
  readonly tools: ReadonlyMap<string, Tool>;
  readonly channels: ReadonlyMap<string, Channel>;
  readonly owners: readonly RegistrationOwner[];
}

/**
 * What the pipeline runs, per Pincer instance. Every `add*` returns the disposer that removes
 * exactly that registration. Lists are replaced, never mutated, so a snapshot taken by a
 * message stays valid while plugins come and go.
 */
export class PipelineRegistry {
  private analyzerList: readonly Analyzer[] = [];
  private responderList: readonly Responder[] = [];
  private hookList: readonly Hooks[] = [];
  private commandMap: ReadonlyMap<string, Command> = new Map();
  private toolMap: ReadonlyMap<string, Tool> = new Map();
  private channelMap: ReadonlyMap<string, Channel> = new Map();
  private readonly ownerOf = new Map<object, RegistrationOwner>();
  private cached: RegistrySnapshot | undefined;
  /** Core restarts a channel's transports when its adapter comes, goes or is replaced (a reload). */
  private readonly channelListeners = new Listeners<[]>(() => undefined);

  onChannels(listener: () => void): () => void {
    return this.channelListeners.add(listener);
  }

  get analyzers(): readonly Analyzer[] {
    return this.analyzerList;
  }
  get responders(): readonly Responder[] {
    return this.responderList;
  }
  get hooks(): readonly Hooks[] {
    return this.hookList;
  }
  get commands(): ReadonlyMap<string, Command> {
    return this.commandMap;
  }
  get tools(): ReadonlyMap<string, Tool> {
    return this.toolMap;
  }
  get channels(): ReadonlyMap<string, Channel> {
    return this.channelMap;
  }

  snapshot(): RegistrySnapshot {
    if (!this.cached) {
      const owners = new Set<RegistrationOwner>();
      for (const item of [...this.analyzerList, ...this.responderList, ...this.hookList, ...this.commandMap.values(), ...this.toolMap.values(), ...this.channelMap.values()]) {
        const owner = this.ownerOf.get(item);
        if (owner) owners.add(owner);
      }
      this.cached = { analyzers: this.analyzerList, responders: this.responderList, hooks: this.hookList, commands: this.commandMap, tools: this.toolMap, channels: this.channelMap, owners: [...owners] };
    }
    return this.cached;
  }

  /** The owner an analyzer, responder, hooks or command was registered with. */
  owner(item: object): RegistrationOwner | undefined {
    return this.ownerOf.get(item);
  }

  addAnalyzer(analyzer: Analyzer, owner?: RegistrationOwner): Disposer {
    if (this.analyzerList.some((a) => a.name === analyzer.name)) {
      throw new PincerError('PIPELINE_DUPLICATE_ANALYZER', `an analyzer named "${analyzer.name}" is already registered`);
    }
    this.analyzerList = [...this.analyzerList, analyzer];
    return this.track(analyzer, owner, () => {
      this.analyzerList = this.analyzerList.filter((a) => a !== analyzer);
    });
  }

  addResponder(responder: Responder, owner?: RegistrationOwner): Disposer {
    // Stable sort keeps registration order among equal `order`s.
    this.responderList = [...this.responderList, responder].sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
    return this.track(responder, owner, () => {
      this.responderList = this.responderList.filter((r) => r !== responder);
    });
  }

  addHooks(hooks: Hooks, owner?: RegistrationOwner): Disposer {
    this.hookList = [...this.hookList, hooks];
    return this.track(hooks, owner, () => {
      this.hookList = this.hookList.filter((h) => h !== hooks);
    });
  }

  addCommand(command: Command, owner?: RegistrationOwner): Disposer {
    const name = command.name.toLowerCase();
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(name)) {
      throw new PincerError('PIPELINE_BAD_COMMAND_NAME', `command name "${command.name}" must be 1-32 letters, digits, "-" or "_", starting with a letter`);
    }
    if (this.commandMap.has(name)) throw new PincerError('PIPELINE_DUPLICATE_COMMAND', `a command named "/${name}" is already registered`);
    return this.named(command, name, owner, () => this.commandMap, (map) => (this.commandMap = map));
  }

  /** A tool the model may call. Model vendors accept names of letters, digits, "_" and "-" only. */
  addTool(tool: Tool, owner?: RegistrationOwner): Disposer {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(tool.name)) {
      throw new PincerError('PIPELINE_BAD_TOOL_NAME', `tool name "${tool.name}" must be 1-64 letters, digits, "-" or "_"`);
    }
    checkToolExamples(tool);
    const holder = this.toolMap.get(tool.name);
    if (holder) throw new PincerError('PIPELINE_DUPLICATE_TOOL', `a tool named "${tool.name}" is already registered${holder.plugin ? ` (by plugin ${holder.plugin})` : ''}`);
    return this.named(tool, tool.name, owner, () => this.toolMap, (map) => (this.toolMap = map));
  }

  /** The sender for messages whose `channel` is this name. */
  addChannel(channel: Channel, owner?: RegistrationOwner): Disposer {
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(channel.name)) {
      throw new PincerError('PIPELINE_BAD_CHANNEL_NAME', `channel name "${channel.name}" must be 1-32 lower-case letters, digits, "-" or "_", starting with a letter`);
    }
    const holder = this.channelMap.get(channel.name);
    if (holder) throw new PincerError('PIPELINE_DUPLICATE_CHANNEL', `a channel named "${channel.name}" is already registered${holder.plugin ? ` (by plugin ${holder.plugin})` : ''}`);
    return this.named(channel, channel.name, owner, () => this.channelMap, (map) => {
      this.channelMap = map;
      this.channelListeners.emit();
    });
  }

  /** Add to a name-keyed map (replaced, never mutated); the disposer removes only this item. */
  private named<T extends object>(item: T, name: string, owner: RegistrationOwner | undefined, get: () => ReadonlyMap<string, T>, set: (map: ReadonlyMap<string, T>) => void): Disposer {
    set(new Map([...get(), [name, item]]));
    return this.track(item, owner, () => {
      if (get().get(name) !== item) return;
      const next = new Map(get());
      next.delete(name);
      set(next);
    });
  }

  private track(item: object, owner: RegistrationOwner | undefined, remove: () => void): Disposer {
    if (owner) this.ownerOf.set(item, owner);
    this.cached = undefined;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      remove();
      this.ownerOf.delete(item);
      this.cached = undefined;
    };
  }
}
