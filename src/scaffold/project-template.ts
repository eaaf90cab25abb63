import path from 'node:path';
import { PincerError } from '../errors.js';
import { assertEmptyDir, json, parseVersion, writeTemplate, type TemplateFiles } from './files.js';
import { assertPluginName, scaffoldPlugin } from './plugin-template.js';

/**
 * `pincer init <dir>`: a bot project that depends on Pincer, runs with `npm start`, and
 * carries one local plugin under plugins/ (where discovery looks) as an npm workspace, so a
 * single `npm install` gives it its build tools and `npm start` builds it first.
 */

export interface ScaffoldProjectOptions {
  /** Folder to create; it must not exist or be empty. */
  dir: string;
  /** npm name of the project, also the bot's name; default: the folder's name, made valid. */
  name?: string;
  pincerVersion: string;
  /** How package.json names Pincer: "^1.2.0", or "file:/path/to/pincer" while it is unpublished. */
  pincerDependency: string;
  /** The local plugin created under plugins/; default "hello". */
  pluginName?: string;
}

export interface ScaffoldProjectResult {
  /** Absolute path of the created folder. */
  dir: string;
  name: string;
  /** Paths of the files written, relative to `dir`, the plugin's included. */
  files: string[];
  plugin: { name: string; dir: string };
}

const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

export function scaffoldProject(options: ScaffoldProjectOptions): ScaffoldProjectResult {
  const dir = path.resolve(options.dir);
  const name = options.name ?? npmNameFrom(path.basename(dir));
  if (!NPM_NAME.test(name) || name.length > 214) {
    throw new PincerError('SCAFFOLD_NAME_INVALID', `project name "${name}" is not a valid npm package name (lower-case letters, digits, "-", "." and "_")`, { name });
  }
  const pluginName = options.pluginName ?? 'hello';
  assertPluginName(pluginName);
  parseVersion(options.pincerVersion);
  assertEmptyDir(dir);

  const files = writeTemplate(dir, projectFiles(name, pluginName, options.pincerDependency));
  const pluginDir = path.join(dir, 'plugins', pluginName);
  const plugin = scaffoldPlugin({
    dir: pluginDir,
    name: pluginName,
    pincerVersion: options.pincerVersion,
    pincerDependency: rebaseFileSpec(options.pincerDependency, dir, pluginDir),
  });
  const pluginFiles = plugin.files.map((file) => path.posix.join('plugins', pluginName, file));
  return { dir, name, files: [...files, ...pluginFiles], plugin: { name: pluginName, dir: pluginDir } };
}

/** "My Bot!" -> "my-bot": the folder name as an npm package name. */
function npmNameFrom(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9-._~]+/g, '-')
    .replace(/^[-._]+|-+$/g, '');
  return name || 'pincer-bot';
}

/** A relative "file:" spec is relative to its package.json, so the plugin's must be rebased. */
function rebaseFileSpec(spec: string, fromDir: string, toDir: string): string {
  if (!spec.startsWith('file:')) return spec;
  const target = spec.slice('file:'.length);
  if (path.isAbsolute(target)) return spec;
  return 'file:' + path.relative(toDir, path.resolve(fromDir, target)).split(path.sep).join('/');
}

function projectFiles(name: string, pluginName: string, pincerDependency: string): TemplateFiles {
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      // Local plugins are workspaces: `npm install` brings their build tools, and the
      // scripts below build and test each of them.
      workspaces: ['plugins/*'],
      scripts: {
        build: 'npm run build --workspaces --if-present',
        prestart: 'npm run build --silent',
        start: 'pincer start',
        test: 'npm test --workspaces --if-present',
      },
      engines: { node: '>=20.18' },
      dependencies: { pincer: pincerDependency },
    }),
    'pincer.config.yaml': configYaml(name, pluginName),
    'README.md': readme(name, pluginName),
    '.gitignore': 'node_modules/\ndist/\ndata/\n*.tgz\n',
  };
}

function configYaml(name: string, pluginName: string): string {
  // JSON strings are valid YAML scalars, so the name needs no YAML quoting rules of its own.
  return `# Pincer's configuration for this bot. Every key is optional: the commented values are the
# defaults. Each key can also be set in the environment, e.g. PINCER_PORT=8080 or
# PINCER_PLUGINS_ENABLED=commands,${pluginName}; the environment wins over this file.
# All keys: node_modules/pincer/docs/configuration.md

bot:
  name: ${JSON.stringify(name)}

server:
  host: 127.0.0.1      # with no auth tokens, Pincer only accepts a loopback address
  port: 7700

# auth:
#   tokens: []         # API tokens: Authorization: Bearer <token> (8 characters or more)
#   admin_tokens: []   # tokens for /v1/admin/... and pincer plugin enable|disable|reload|install

data_dir: ./data       # the SQLite queue, and plugins enabled or disabled at run time

plugins:
  # Plugins are found in ./plugins/*, ./node_modules and the plugins bundled with Pincer
  # (commands, sentiment, language, translation); only those listed here run. pincer plugin
  # enable|disable changes this while the bot runs (kept in <data_dir>/plugins.json).
  enabled:
    - commands
    - ${pluginName}
  # Each plugin's settings, checked against its config.json. The environment wins:
  # PINCER_PLUGIN_<NAME>_<KEY>, e.g. PINCER_PLUGIN_${pluginName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_GREETING=Hi.
  config:
    ${pluginName}:
      greeting: Hello
  # call_timeout: 10s  # a plugin's setup, HTTP route or service call
  # max_failures: 5    # consecutive failures after which a plugin is disabled
  # memory_limit: 256  # heap of each plugin thread, in MB

# queue:
#   max_length: 10000
#   retry_delay: 5s
#   max_attempts: 5

# workers:
#   concurrency: 32
#   stage_timeout: 30s # each analyzer, hook, command or responder call on a message

# log:
#   level: info
`;
}

function readme(name: string, pluginName: string): string {
  return `# ${name}

A chat bot built on Pincer.

\`\`\`sh
npm install
npm start         # builds the plugins under plugins/, then serves on http://127.0.0.1:7700
\`\`\`

In another terminal:

\`\`\`sh
npx pincer send "/${pluginName} Can I get a refund?" --wait
npx pincer chat
curl -s -XPOST 'http://127.0.0.1:7700/v1/messages?wait=5' \\
  -H 'content-type: application/json' -d '{"text": "/help"}'
\`\`\`

| path | what |
|---|---|
| \`pincer.config.yaml\` | the configuration: port, auth tokens, which plugins run and their settings |
| \`plugins/${pluginName}/\` | a plugin of this bot: an analyzer and the \`/${pluginName}\` command; see its README |
| \`data/\` | the message queue (SQLite); created on the first start |

## Plugins

- Change \`plugins/${pluginName}\`, then \`npm run build\` and \`npx pincer plugin reload ${pluginName}\`:
  the new code takes over without a restart, and messages in progress finish on the old one.
- \`npm test\` runs the tests of every plugin under \`plugins/\`.
- \`npx pincer plugin list\` shows every plugin found and why any of them is not running.
- The bundled plugins \`sentiment\` and \`language\` analyze every message; add them to
  \`plugins.enabled\` in \`pincer.config.yaml\`, or run \`npx pincer plugin enable sentiment\`.
- \`npx pincer plugin install <name>\` installs a published plugin (\`pincer-plugin-*\` on npm).
- \`npx pincer plugin new <name>\` creates another plugin in \`plugins/<name>\`; run \`npm install\` once more
  to give it its build tools.

Pincer's documentation is in \`node_modules/pincer/docs/\` (plugins.md, configuration.md, cli.md).
`;
}
