import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { PincerError } from '../../src/errors.js';
import { Pincer } from '../../src/pincer.js';
import { discoverPlugins } from '../../src/plugins/discovery.js';
import { checkEngine, checkEntry, parseManifest } from '../../src/plugins/manifest.js';
import { PluginConfigResolver } from '../../src/plugins/plugin-config.js';
import { scaffoldPlugin } from '../../src/scaffold/plugin-template.js';
import { scaffoldProject, type ScaffoldProjectResult } from '../../src/scaffold/project-template.js';
import { PINCER_ROOT, PINCER_VERSION } from '../../src/version.js';
import { LogCapture, eventually, getJson, linkBuildTools, npm, postJson, tempDir } from '../support/index.js';

/*
 * A scaffolded plugin and project must work as generated: they are built and tested with
 * their own npm scripts, offline, by linking the build tools npm install would bring
 * (typescript, @types/node, and pincer = this repo, whose dist/ the root pretest builds).
 */

const PINCER_DEPENDENCY = `file:${PINCER_ROOT}`;
const BUILD_TIMEOUT_MS = 180_000;

const tmp = tempDir('pincer-scaffold-');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  tmp.cleanup();
});

function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PincerError);
    return (err as PincerError).code;
  }
  return undefined;
}

const pluginDir = path.join(tmp.dir, 'tally');
const projectDir = path.join(tmp.dir, 'My Bot');
let pluginFiles: string[];
let pluginTestOutput: string;
let project: ScaffoldProjectResult;

beforeAll(() => {
  if (!existsSync(path.join(PINCER_ROOT, 'dist/src/plugins/sdk.d.ts'))) {
    throw new Error('pincer/plugin is not built: run npm run build first (npm test does)');
  }
  const plugin = scaffoldPlugin({ dir: pluginDir, name: 'tally', pincerVersion: PINCER_VERSION, pincerDependency: PINCER_DEPENDENCY });
  expect(plugin.dir).toBe(pluginDir);
  pluginFiles = plugin.files;
  linkBuildTools(pluginDir);
  pluginTestOutput = npm(pluginDir, ['test']);

  project = scaffoldProject({ dir: projectDir, pincerVersion: PINCER_VERSION, pincerDependency: PINCER_DEPENDENCY });
  // Workspaces hoist the plugin's build tools to the project's node_modules.
  linkBuildTools(projectDir);
  npm(projectDir, ['run', 'build']);
}, BUILD_TIMEOUT_MS);

describe('scaffoldPlugin', () => {
  it('writes an S4.1 plugin package', () => {
    expect([...pluginFiles].sort()).toEqual(['.gitignore', 'README.md', 'config.json', 'core.ts', 'index.ts', 'models.ts', 'package.json', 'test/core.test.ts', 'tsconfig.json']);
    const pkg = readJson(path.join(pluginDir, 'package.json'));
    expect(pkg).toMatchObject({
      name: 'pincer-plugin-tally',
      version: '0.1.0',
      type: 'module',
      scripts: { build: 'tsc -p tsconfig.json', test: 'tsc -p tsconfig.json && node --test dist/test/*.test.js' },
      pincer: { engine: `^${PINCER_VERSION.split('.')[0]}.0.0`, plugins: { tally: { entry: './dist/index.js#plugin', inject: [], provides: [] } }, config: './config.json' },
      devDependencies: { pincer: PINCER_DEPENDENCY, typescript: '^5.9.0', '@types/node': '^20.0.0' },
    });
    expect(pkg.dependencies).toBeUndefined();
    expect(readJson(path.join(pluginDir, 'tsconfig.json')).compilerOptions).toMatchObject({ strict: true, module: 'NodeNext', outDir: 'dist', rootDir: '.' });
    const index = readFileSync(path.join(pluginDir, 'index.ts'), 'utf8');
    expect(index).toContain("import type { PluginDefinition } from 'pincer/plugin'");
    expect(index).toMatch(/ctx\.analyzer\(/);
    expect(index).toMatch(/ctx\.command\(/);
    expect(readFileSync(path.join(pluginDir, 'models.ts'), 'utf8')).toContain('export interface TallyConfig');
    expect(readFileSync(path.join(pluginDir, 'test/core.test.ts'), 'utf8')).toContain("from 'node:test'");
  });

  it('builds and passes its own tests with its npm scripts', () => {
    expect(existsSync(path.join(pluginDir, 'dist/index.js'))).toBe(true);
    expect(pluginTestOutput).toMatch(/^# pass [1-9]\d*$/m);
    expect(pluginTestOutput).toMatch(/^# fail 0$/m);
  });

  it('has a manifest Pincer accepts, for this major only', () => {
    const dir = realpathSync(pluginDir);
    const manifest = parseManifest(dir, readJson(path.join(dir, 'package.json')).pincer);
    expect(manifest.entries).toEqual([{ name: 'tally', modulePath: path.join(dir, 'dist/index.js'), exportName: 'plugin', inject: [], provides: [] }]);
    expect(manifest.configPath).toBe(path.join(dir, 'config.json'));
    expect(checkEngine(manifest.engine, PINCER_VERSION)).toBeUndefined();
    expect(checkEntry(manifest.entries[0]!, dir)).toBeUndefined();
    const nextMajor = `${Number(PINCER_VERSION.split('.')[0]) + 1}.0.0`;
    expect(checkEngine(manifest.engine, nextMajor)?.code).toBe('PLUGIN_ENGINE_MISMATCH');
  });

  it('declares an engine range that spans the minor below 1.0', () => {
    const dir = path.join(tmp.dir, 'zero');
    scaffoldPlugin({ dir, name: 'zero', pincerVersion: '0.4.2' });
    const pkg = readJson(path.join(dir, 'package.json'));
    expect(pkg.pincer.engine).toBe('^0.4.0');
    expect(pkg.devDependencies.pincer).toBe('^0.4.2');
    expect(checkEngine(pkg.pincer.engine, '0.4.9')).toBeUndefined();
    expect(checkEngine(pkg.pincer.engine, '0.5.0')?.code).toBe('PLUGIN_ENGINE_MISMATCH');
  });

  it('has a config.json that resolves to its defaults and validates settings', () => {
    const resolver = new PluginConfigResolver();
    const configPath = path.join(pluginDir, 'config.json');
    expect(resolver.resolve('tally', configPath, undefined, {})).toEqual({ ok: true, config: { greeting: 'Hello', keywords: ['help', 'urgent', 'refund'] } });
    expect(resolver.resolve('tally', configPath, { greeting: 'Hi' }, { PINCER_PLUGIN_TALLY_KEYWORDS: 'refund, invoice' })).toEqual({
      ok: true,
      config: { greeting: 'Hi', keywords: ['refund', 'invoice'] },
    });
    const bad = resolver.resolve('tally', configPath, { greting: 'Hi' }, {});
    expect(bad).toMatchObject({ ok: false, problem: { code: 'PLUGIN_CONFIG_INVALID', field: 'config.greting' } });
    const twoWords = resolver.resolve('tally', configPath, { keywords: ['thank you'] }, {});
    expect(twoWords).toMatchObject({ ok: false, problem: { code: 'PLUGIN_CONFIG_INVALID', field: 'config.keywords.0' } });
  });

  it('publishes the built plugin and its config, not its tests', () => {
    const [packed] = JSON.parse(npm(pluginDir, ['pack', '--dry-run', '--json']));
    expect(packed.files.map((f: { path: string }) => f.path).sort()).toEqual(['README.md', 'config.json', 'dist/core.js', 'dist/index.js', 'dist/models.js', 'package.json']);
  });

  it('refuses a bad name before writing anything', () => {
    for (const name of ['', 'Tally', '1tally', 'my_plugin', 'has space', '-x', 'a'.repeat(65)]) {
      const dir = path.join(tmp.dir, `bad-${name.length}-${name.replace(/\W/g, '')}`);
      expect(codeOf(() => scaffoldPlugin({ dir, name, pincerVersion: PINCER_VERSION })), name).toBe('SCAFFOLD_NAME_INVALID');
      expect(existsSync(dir)).toBe(false);
    }
    expect(codeOf(() => scaffoldPlugin({ dir: path.join(tmp.dir, 'v'), name: 'v', pincerVersion: 'one' }))).toBe('SCAFFOLD_VERSION_INVALID');
  });

  it('refuses a folder that is not empty, and accepts an empty one', () => {
    const before = readFileSync(path.join(pluginDir, 'index.ts'), 'utf8');
    expect(codeOf(() => scaffoldPlugin({ dir: pluginDir, name: 'tally', pincerVersion: PINCER_VERSION }))).toBe('SCAFFOLD_DIR_NOT_EMPTY');
    expect(readFileSync(path.join(pluginDir, 'index.ts'), 'utf8')).toBe(before);

    const file = path.join(tmp.dir, 'a-file');
    writeFileSync(file, 'x');
    expect(codeOf(() => scaffoldPlugin({ dir: file, name: 'x', pincerVersion: PINCER_VERSION }))).toBe('SCAFFOLD_DIR_NOT_EMPTY');

    const empty = path.join(tmp.dir, 'empty');
    mkdirSync(empty);
    expect(scaffoldPlugin({ dir: empty, name: 'empty', pincerVersion: PINCER_VERSION }).files).toContain('index.ts');
  });
});

describe('scaffoldProject', () => {
  it('writes a bot project with one local plugin as a workspace', () => {
    expect(project).toMatchObject({ dir: projectDir, name: 'my-bot', plugin: { name: 'hello', dir: path.join(projectDir, 'plugins/hello') } });
    expect(project.files).toEqual(expect.arrayContaining(['package.json', 'pincer.config.yaml', 'README.md', '.gitignore', 'plugins/hello/package.json', 'plugins/hello/index.ts', 'plugins/hello/config.json']));
    const pkg = readJson(path.join(projectDir, 'package.json'));
    expect(pkg).toMatchObject({ name: 'my-bot', private: true, type: 'module', workspaces: ['plugins/*'], dependencies: { pincer: PINCER_DEPENDENCY } });
    expect(pkg.scripts).toMatchObject({ start: 'pincer start', prestart: 'npm run build --silent', build: 'npm run build --workspaces --if-present' });
    expect(readJson(path.join(projectDir, 'plugins/hello/package.json')).devDependencies.pincer).toBe(PINCER_DEPENDENCY);
    const ignored = readFileSync(path.join(projectDir, '.gitignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['data/', 'node_modules/', 'dist/']));
  });

  it('has a pincer.config.yaml that Pincer accepts', () => {
    const { config, file } = loadConfig({ cwd: projectDir, env: {} });
    expect(file).toBe(path.join(projectDir, 'pincer.config.yaml'));
    expect(config.bot.name).toBe('my-bot');
    expect(config.plugins.enabled).toEqual(['commands', 'hello']);
    expect(config.plugins.root).toBe(projectDir);
    expect(config.plugins.config).toEqual({ hello: { greeting: 'Hello' } });
    expect(config.data_dir).toBe(path.join(projectDir, 'data'));
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 7700 });
  });

  it('has a local plugin that discovery finds, once built', () => {
    const found = discoverPlugins({ root: projectDir, bundledRoot: undefined, pincerVersion: PINCER_VERSION });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: 'hello', packageName: 'pincer-plugin-hello', source: 'plugins', dir: realpathSync(path.join(projectDir, 'plugins/hello')), problem: undefined });

    const unbuilt = scaffoldProject({ dir: path.join(tmp.dir, 'unbuilt'), pincerVersion: PINCER_VERSION, pincerDependency: '^1.0.0' });
    const [plugin] = discoverPlugins({ root: unbuilt.dir, bundledRoot: undefined, pincerVersion: PINCER_VERSION });
    expect(plugin?.problem).toMatchObject({ code: 'PLUGIN_ENTRY_MISSING', message: expect.stringContaining('build it first') });
  });

  it('rebases a relative file: dependency for its plugin, and refuses what it cannot use', () => {
    const dir = path.join(tmp.dir, 'bots', 'relative');
    scaffoldProject({ dir, name: 'relative', pincerVersion: PINCER_VERSION, pincerDependency: 'file:../../pincer' });
    expect(readJson(path.join(dir, 'package.json')).dependencies.pincer).toBe('file:../../pincer');
    expect(readJson(path.join(dir, 'plugins/hello/package.json')).devDependencies.pincer).toBe('file:../../../../pincer');

    const options = { pincerVersion: PINCER_VERSION, pincerDependency: PINCER_DEPENDENCY };
    expect(codeOf(() => scaffoldProject({ ...options, dir: path.join(tmp.dir, 'p1'), name: 'Not Valid' }))).toBe('SCAFFOLD_NAME_INVALID');
    expect(codeOf(() => scaffoldProject({ ...options, dir: path.join(tmp.dir, 'p2'), pluginName: 'Hello' }))).toBe('SCAFFOLD_NAME_INVALID');
    expect(codeOf(() => scaffoldProject({ ...options, dir: projectDir }))).toBe('SCAFFOLD_DIR_NOT_EMPTY');
    expect(existsSync(path.join(tmp.dir, 'p1'))).toBe(false);
    expect(existsSync(path.join(tmp.dir, 'p2'))).toBe(false);
  });
});

describe('a scaffolded project in a running Pincer', () => {
  async function ask(url: string, text: string): Promise<any> {
    const sent = await postJson(`${url}/v1/messages`, { text });
    expect(sent.status).toBe(202);
    return eventually(() => getJson(`${url}/v1/messages/${sent.body.id}`).then((r) => r.body), (m) => m.status === 'done' || m.status === 'dead', 20_000, `"${text}" to be answered`);
  }

  it('serves its local plugin, and a scaffolded plugin installed while it runs', async () => {
    const { config } = loadConfig({ cwd: projectDir, env: { PINCER_PORT: '0', PINCER_DATA_DIR: path.join(tmp.dir, 'data') } });
    const pincer = await Pincer.create({ config, logDestination: new LogCapture(), env: {} });
    cleanups.push(() => pincer.close());
    const url = await pincer.start();

    const hello = await ask(url, '/hello Can I get a refund?');
    expect(hello).toMatchObject({
      status: 'done',
      analysis: { hello: { words: 6, question: true, keywords: ['refund'] } },
      reply: { text: 'Hello! I see 5 words, a question, keywords: refund.', data: { words: 5, question: true, keywords: ['refund'] } },
    });

    const installed = await postJson(`${url}/v1/admin/plugins/install`, { source: pluginDir, enable: true });
    expect(installed.status).toBe(200);
    expect(installed.body.plugins).toEqual([expect.objectContaining({ name: 'tally', state: 'enabled', registered: expect.objectContaining({ analyzers: ['tally'], commands: ['tally'] }) })]);

    const tally = await ask(url, '/tally urgent help?');
    expect(tally.reply.text).toBe('Hello! I see 2 words, a question, keywords: help, urgent.');
    expect(tally.analysis).toMatchObject({ hello: { words: 3 }, tally: { words: 3, keywords: ['help', 'urgent'] } });
  });
});
