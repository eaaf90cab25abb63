import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { isErrorCode } from '../../errors.js';
import { discoverPlugins } from '../../plugins/discovery.js';
import { PluginConfigResolver } from '../../plugins/plugin-config.js';
import type { PluginView } from '../../plugins/view.js';
import { PluginStateFile } from '../../plugins/plugin-state.js';
import { scaffoldPlugin } from '../../scaffold/plugin-template.js';
import { PINCER_ROOT, PINCER_VERSION } from '../../version.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';

type Globals = () => ClientOptions & { json?: boolean };

/** What `plugin list` can tell without a running Pincer: discovery, manifest and config checks. */
interface OfflineView {
  name: string;
  packageName: string;
  version: string;
  source: string;
  state: 'enabled' | 'disabled' | 'failed' | 'incompatible';
  reason?: string;
  /** From the manifest: known without running the plugin. */
  inject: string[];
  provides: string[];
}

function offlineList(configFile: string | undefined): OfflineView[] {
  const { config } = loadConfig({ file: configFile });
  const stateFile = new PluginStateFile(config.data_dir);
  const resolver = new PluginConfigResolver();
  return discoverPlugins({ root: config.plugins.root, bundledRoot: config.plugins.bundled ? PINCER_ROOT : undefined, pincerVersion: PINCER_VERSION }).map((p) => {
    const base = { name: p.name, packageName: p.packageName, version: p.version, source: p.source, inject: p.entry?.inject ?? [], provides: p.entry?.provides ?? [] };
    const problem = p.problem ?? (() => {
      const resolved = resolver.resolve(p.name, p.configPath, config.plugins.config[p.name], process.env);
      return resolved.ok ? undefined : resolved.problem;
    })();
    if (problem) return { ...base, state: problem.code === 'PLUGIN_ENGINE_MISMATCH' ? 'incompatible' : 'failed', reason: `${problem.code} ${problem.field}: ${problem.message}` };
    return stateFile.isEnabled(p.name, config.plugins.enabled) ? { ...base, state: 'enabled', reason: 'will start with Pincer' } : { ...base, state: 'disabled', reason: 'not in plugins.enabled' };
  });
}

/** "needs geocoder; provides forecast", from the manifest. */
function services(p: Pick<PluginView, 'inject' | 'provides'>): string {
  return [p.inject.length > 0 ? `needs ${p.inject.join(',')}` : '', p.provides.length > 0 ? `provides ${p.provides.join(',')}` : ''].filter(Boolean).join('; ');
}

function describe(p: PluginView): string {
  const parts = [p.reason ?? '', services(p)];
  if (p.health.state === 'unavailable') parts.push(`unavailable: ${p.health.detail ?? ''}`);
  const registered = Object.entries(p.registered).filter(([, v]) => v.length > 0).map(([k, v]) => `${k} ${v.join(',')}`);
  if (p.state === 'enabled' && registered.length > 0) parts.push(registered.join('; '));
  return parts.filter(Boolean).join(' | ');
}

function summary(p: PluginView): string {
  return `${p.name}: ${p.state}${p.generation ? ` (generation ${p.generation})` : ''}${p.reason ? ` - ${p.reason}` : ''}`;
}

export function pluginCommand(program: Command, globals: Globals): void {
  const plugin = program.command('plugin').description('find, install, enable, disable and reload plugins (admin)');

  plugin
    .command('list')
    .description('every plugin found in plugins/, node_modules and Pincer\'s bundled plugins, with its state and why')
    .action(async () => {
      const g = globals();
      try {
        const { body } = await ApiClient.from(g).call<{ plugins: PluginView[] }>('GET', '/v1/admin/plugins');
        print(!!g.json, body, () =>
          table([['NAME', 'VERSION', 'STATE', 'SOURCE', 'DETAILS'], ...body.plugins.map((p) => [p.name, p.version, p.state, p.source, describe(p)])]),
        );
      } catch (err) {
        if (!isErrorCode(err, 'CLI_UNREACHABLE')) throw err;
        const plugins = offlineList(g.config);
        print(!!g.json, { running: false, plugins }, () =>
          'Pincer is not running: states below come from the config and the checks made before loading.\n' +
          table([['NAME', 'VERSION', 'STATE', 'SOURCE', 'DETAILS'], ...plugins.map((p) => [p.name, p.version, p.state, p.source, [p.reason ?? '', services(p)].filter(Boolean).join(' | ')])]),
        );
      }
    });

  for (const action of ['enable', 'disable', 'reload'] as const) {
    plugin
      .command(action)
      .description({ enable: 'start a plugin now (and on later starts)', disable: 'stop a plugin now (and on later starts); in-flight messages finish', reload: 'load the plugin\'s current code and config without a restart' }[action])
      .argument('<name>', 'plugin name, as `pincer plugin list` shows it')
      .action(async (name: string) => {
        const g = globals();
        const { body } = await ApiClient.from(g).call<PluginView>('POST', `/v1/admin/plugins/${encodeURIComponent(name)}/${action}`, {});
        print(!!g.json, body, () => summary(body));
      });
  }

  plugin
    .command('install')
    .description('install a plugin from a folder or an npm spec into the running bot, and enable it')
    .argument('<source>', 'a folder, or an npm spec (name, name@version, tarball, git URL)')
    .option('--no-enable', 'install only')
    .action(async (source: string, opts: { enable: boolean }) => {
      const g = globals();
      // A folder is named from where the CLI runs; the server may run elsewhere.
      const local = path.resolve(source);
      const resolved = existsSync(local) ? local : source;
      process.stderr.write(`installing ${resolved} ...\n`);
      const { body } = await ApiClient.from(g).call<{ installed: { packageName: string; version: string; dir: string }; plugins: PluginView[] }>('POST', '/v1/admin/plugins/install', { source: resolved, enable: opts.enable });
      print(!!g.json, body, () => [`installed ${body.installed.packageName}@${body.installed.version} in ${body.installed.dir}`, ...body.plugins.map(summary)].join('\n'));
    });

  plugin
    .command('new')
    .description('create a plugin: index.ts, core.ts, models.ts, config.json, package.json and a test')
    .argument('<name>', 'lower-case letters, digits and "-"')
    .option('-d, --dir <dir>', 'where to create it (default: plugins/<name>)')
    .action((name: string, opts: { dir?: string }) => {
      const g = globals();
      const dir = path.resolve(opts.dir ?? path.join('plugins', name));
      const result = scaffoldPlugin({ dir, name, pincerVersion: PINCER_VERSION, pincerDependency: `file:${PINCER_ROOT}` });
      print(!!g.json, result, () =>
        [
          `created plugin ${name} in ${result.dir}:`,
          ...result.files.map((f) => `  ${f}`),
          '',
          'next:',
          `  cd ${path.relative(process.cwd(), result.dir) || '.'} && npm install && npm test`,
          `  pincer plugin install ${path.relative(process.cwd(), result.dir) || '.'}    # into the running bot, no restart`,
        ].join('\n'),
      );
    });
}
