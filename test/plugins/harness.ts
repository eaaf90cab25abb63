import { pino } from 'pino';
import { buildModelLayer, type ModelLayer } from '../../src/models/setup.js';
import { PipelineRegistry } from '../../src/pipeline/registry.js';
import type { Tool } from '../../src/pipeline/types.js';
import type { PluginHostServices } from '../../src/plugins/host-api.js';
import { PluginManager } from '../../src/plugins/manager.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { PINCER_VERSION } from '../../src/version.js';
import { LogCapture, pluginProject, tempDir, testConfig } from '../support/index.js';

/**
 * A plugin manager wired as Pincer wires it (a SQLite store, the built-in model), without
 * the HTTP server or workers: tests call plugins through the registry.
 */
export interface PluginHarness {
  manager: PluginManager;
  registry: PipelineRegistry;
  store: Store;
  models: ModelLayer;
  logs: LogCapture;
  root: string;
  tool(name: string): Tool;
  close(): Promise<void>;
}

export async function pluginHarness(fixtures: string[], env: Record<string, string>, models?: Partial<PluginHostServices['models']>): Promise<PluginHarness> {
  const project = pluginProject(fixtures);
  const data = tempDir('pincer-plugin-host-');
  const config = testConfig(data.dir, { PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_BUNDLED: 'false', ...env });
  const logs = new LogCapture();
  const log = pino({ level: 'debug' }, logs);
  const store = await openStore(config, log);
  const layer = buildModelLayer(config, {}, PINCER_VERSION);
  const registry = new PipelineRegistry();
  const manager = new PluginManager({
    config,
    registry,
    log,
    version: PINCER_VERSION,
    bundledRoot: undefined,
    startedAt: Date.now(),
    host: {
      stats: () => store.admin.stats(),
      enqueue: (request) => store.work.enqueue(request),
      models: {
        generate: (request) => layer.model.doGenerate(request),
        stream: (request) => layer.model.doStream(request),
        embed: (request) => layer.embeddings.doEmbed(request),
        ...models,
      },
      channels: { call: () => Promise.reject(new Error('no channel runtime in the plugin harness')) },
    },
    env: {},
  });
  await manager.start();
  return {
    manager,
    registry,
    store,
    models: layer,
    logs,
    root: project.root,
    tool: (name) => {
      const tool = registry.tools.get(name);
      if (!tool) throw new Error(`no tool ${name} registered (tools: ${[...registry.tools.keys()].join(', ')})`);
      return tool;
    },
    close: async () => {
      await manager.close();
      await layer.close();
      await store.close();
      project.cleanup();
      data.cleanup();
    },
  };
}

/** Run a tool as the model layer would: fresh signal, no message. */
export function run(tool: Tool, args: Record<string, unknown>): Promise<unknown> {
  return tool.execute(args as never, { signal: new AbortController().signal });
}
