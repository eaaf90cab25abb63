import { PincerError } from '../errors.js';
import type { Analyzer, Command, Disposer, Hooks, Responder } from './types.js';

/**
 * What the pipeline runs, per Pincer instance. Every `add*` returns the disposer that removes
 * exactly that registration.
 */
export class PipelineRegistry {
  private readonly analyzerList: Analyzer[] = [];
  private responderList: Responder[] = [];
  private readonly hookList: Hooks[] = [];
  private readonly commandMap = new Map<string, Command>();

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

  addAnalyzer(analyzer: Analyzer): Disposer {
    if (this.analyzerList.some((a) => a.name === analyzer.name)) {
      throw new PincerError('PIPELINE_DUPLICATE_ANALYZER', `an analyzer named "${analyzer.name}" is already registered`);
    }
    this.analyzerList.push(analyzer);
    return () => remove(this.analyzerList, analyzer);
  }

  addResponder(responder: Responder): Disposer {
    // Stable sort keeps registration order among equal `order`s.
    this.responderList = [...this.responderList, responder].sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
    return () => {
      this.responderList = this.responderList.filter((r) => r !== responder);
    };
  }

  addHooks(hooks: Hooks): Disposer {
    this.hookList.push(hooks);
    return () => remove(this.hookList, hooks);
  }

  addCommand(command: Command): Disposer {
    const name = command.name.toLowerCase();
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(name)) {
      throw new PincerError('PIPELINE_BAD_COMMAND_NAME', `command name "${command.name}" must be 1-32 letters, digits, "-" or "_", starting with a letter`);
    }
    if (this.commandMap.has(name)) throw new PincerError('PIPELINE_DUPLICATE_COMMAND', `a command named "/${name}" is already registered`);
    this.commandMap.set(name, command);
    return () => {
      if (this.commandMap.get(name) === command) this.commandMap.delete(name);
    };
  }
}

function remove<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}
