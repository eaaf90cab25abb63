import path from 'node:path';
import { PincerError } from '../errors.js';
import { assertEmptyDir, engineRange, json, parseVersion, writeTemplate, type TemplateFiles } from './files.js';

/**
 * `pincer plugin new <name>`: a plugin package laid out as S4.1 (index.ts entry, core.ts
 * logic, models.ts types, config.json), with an example that does real work (an analyzer and
 * a command) and tests that pass out of the box with nothing but node:test.
 */

export interface ScaffoldPluginOptions {
  /** Folder to create; it must not exist or be empty. */
  dir: string;
  /** The plugin's name: the key in `pincer.plugins`, its analyzer and its command. */
  name: string;
  /** The running Pincer's version; the new plugin's engine range is its major. */
  pincerVersion: string;
  /** How the plugin's devDependency names Pincer, e.g. "file:/opt/pincer"; default "^<pincerVersion>". */
  pincerDependency?: string;
}

export interface ScaffoldResult {
  /** Absolute path of the created folder. */
  dir: string;
  /** Paths of the files written, relative to `dir`. */
  files: string[];
}

// The same rule manifest.ts applies to `pincer.plugins` keys, checked here so a new plugin is
// refused before any file is written rather than when Pincer first reads it.
const PLUGIN_NAME = /^[a-z][a-z0-9-]{0,63}$/;
// Pincer's command names are at most 32 characters (pipeline/registry.ts).
const COMMAND_NAME_MAX = 32;

export function assertPluginName(name: string): void {
  if (!PLUGIN_NAME.test(name)) {
    throw new PincerError(
      'SCAFFOLD_NAME_INVALID',
      `plugin name "${name}" must be 1-64 lower-case letters, digits and "-", starting with a letter (e.g. "weather" or "ticket-router")`,
      { name },
    );
  }
}

export function scaffoldPlugin(options: ScaffoldPluginOptions): ScaffoldResult {
  assertPluginName(options.name);
  parseVersion(options.pincerVersion);
  const dir = path.resolve(options.dir);
  assertEmptyDir(dir);
  const files = pluginFiles({
    name: options.name,
    engine: engineRange(options.pincerVersion),
    pincerDependency: options.pincerDependency ?? `^${options.pincerVersion}`,
  });
  return { dir, files: writeTemplate(dir, files) };
}

interface Names {
  /** Plugin, analyzer and (up to 32 characters) command name. */
  name: string;
  command: string;
  /** The config interface in models.ts, e.g. TicketRouterConfig. */
  configType: string;
}

function namesFor(name: string): Names {
  const pascal = name
    .split('-')
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
  return { name, command: name.slice(0, COMMAND_NAME_MAX), configType: `${pascal}Config` };
}

function pluginFiles(options: { name: string; engine: string; pincerDependency: string }): TemplateFiles {
  const n = namesFor(options.name);
  return {
    'package.json': packageJson(n, options.engine, options.pincerDependency),
    'tsconfig.json': tsconfigJson(),
    'index.ts': indexTs(n),
    'core.ts': coreTs(n),
    'models.ts': modelsTs(n),
    'config.json': configJson(n),
    'test/core.test.ts': coreTestTs(n),
    'README.md': readme(n, options.engine),
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
  };
}

function packageJson(n: Names, engine: string, pincerDependency: string): string {
  return json({
    name: `pincer-plugin-${n.name}`,
    version: '0.1.0',
    description: `A Pincer plugin: the ${n.name} analyzer and the /${n.command} command`,
    type: 'module',
    keywords: ['pincer', 'pincer-plugin'],
    // The compiled tests stay out of the published package.
    files: ['dist', '!dist/test', 'config.json'],
    scripts: {
      build: 'tsc -p tsconfig.json',
      // A glob, not a folder: Node 21+ no longer searches a folder given to --test.
      test: 'tsc -p tsconfig.json && node --test dist/test/*.test.js',
      prepublishOnly: 'npm test',
    },
    pincer: {
      engine,
      // inject/provides: the services it needs from and offers to other plugins, read before its code runs.
      plugins: { [n.name]: { entry: './dist/index.js#plugin', inject: [], provides: [] } },
      config: './config.json',
    },
    // Only types come from Pincer (`import type`), so the built plugin needs nothing at run
    // time and Pincer is a devDependency, not a peer npm would install next to the plugin.
    devDependencies: {
      '@types/node': '^20.0.0',
      pincer: pincerDependency,
      typescript: '^5.9.0',
    },
  });
}

function tsconfigJson(): string {
  return json({
    compilerOptions: {
      target: 'ES2023',
      lib: ['ES2023'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      isolatedModules: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      types: ['node'],
      rootDir: '.',
      outDir: 'dist',
    },
    include: ['index.ts', 'core.ts', 'models.ts', 'test'],
  });
}

function configJson(n: Names): string {
  return json({
    type: 'object',
    additionalProperties: false,
    properties: {
      greeting: {
        type: 'string',
        minLength: 1,
        default: 'Hello',
        description: `How /${n.command} greets.`,
      },
      keywords: {
        type: 'array',
        items: { type: 'string', pattern: '^\\S+$' },
        uniqueItems: true,
        default: ['help', 'urgent', 'refund'],
        description: `Single words looked for in every message, case-insensitively; those found are listed under analysis.${n.name}.keywords.`,
      },
    },
  });
}

function modelsTs(n: Names): string {
  return `/** Settings from config.json, after Pincer merged in the user's and validated them. */
export interface ${n.configType} {
  /** How /${n.command} greets. */
  greeting: string;
  /** Words looked for in every message, case-insensitively. */
  keywords: string[];
}

/**
 * Stored on every message as \`analysis.${n.name}\`, and the \`data\` of a /${n.command} reply. A type
 * alias, not an interface, so that it is assignable to Pincer's JsonValue.
 */
export type TextFacts = {
  words: number;
  question: boolean;
  /** The configured keywords found in the text, in the configured order. */
  keywords: string[];
};
`;
}

function coreTs(n: Names): string {
  return `import type { TextFacts } from './models.js';

/*
 * The plugin's logic, free of Pincer: plain functions of plain data, unit-tested without a
 * bot (test/core.test.ts), so index.ts stays a thin layer of registrations.
 */

// A word is a run of letters, digits or apostrophes in any alphabet: "don't", "café".
const WORD = /[\\p{L}\\p{N}']+/gu;

export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** What the analyzer stores on every message as \`analysis.${n.name}\`. */
export function factsOf(text: string, keywords: readonly string[]): TextFacts {
  const words = wordsOf(text);
  const present = new Set(words);
  return {
    words: words.length,
    question: /[?？]\\s*$/u.test(text),
    keywords: keywords.filter((keyword) => present.has(keyword.toLowerCase())),
  };
}

export function greet(greeting: string, sender: string | null): string {
  return sender ? \`\${greeting}, \${sender}!\` : \`\${greeting}!\`;
}

export function describeFacts(facts: TextFacts): string {
  const parts = [\`\${facts.words} \${facts.words === 1 ? 'word' : 'words'}\`];
  if (facts.question) parts.push('a question');
  parts.push(facts.keywords.length > 0 ? \`keywords: \${facts.keywords.join(', ')}\` : 'no keywords');
  return \`I see \${parts.join(', ')}.\`;
}
`;
}

function indexTs(n: Names): string {
  return `import type { PluginDefinition } from 'pincer/plugin';
import { describeFacts, factsOf, greet } from './core.js';
import type { ${n.configType} } from './models.js';

/**
 * The export Pincer loads ("pincer.plugins" in package.json names ./dist/index.js#plugin).
 * setup runs in the plugin's own worker thread; ctx.config is config.json's defaults merged
 * with the user's settings, already validated. Importing only types from pincer/plugin keeps
 * the built plugin free of any run-time dependency on Pincer.
 */
export const plugin: PluginDefinition<${n.configType}> = {
  setup(ctx) {
    const { greeting, keywords } = ctx.config;

    // Runs on every message; Pincer stores the result on it as analysis.${n.name}.
    ctx.analyzer({
      name: '${n.name}',
      analyze: ({ message }) => factsOf(message.text, keywords),
    });

    ctx.command({
      name: '${n.command}',
      description: 'greet you, and say what I notice in a text',
      usage: '[text]',
      run: ({ args, message }) => {
        const hello = greet(greeting, message.sender);
        if (!args) return \`\${hello} Send /${n.command} <text> and I will tell you what I notice in it.\`;
        const facts = factsOf(args, keywords);
        return { text: \`\${hello} \${describeFacts(facts)}\`, data: facts };
      },
    });

    ctx.log.info('watching for keywords', { keywords });
  },
};
`;
}

function coreTestTs(n: Names): string {
  return `import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFacts, factsOf, greet } from '../core.js';

describe('${n.name} core', () => {
  it('counts words and spots a question', () => {
    assert.deepEqual(factsOf('Can I get a refund?', []), { words: 5, question: true, keywords: [] });
    assert.deepEqual(factsOf("  don't stop, café owner  ", []), { words: 4, question: false, keywords: [] });
    assert.deepEqual(factsOf('', []), { words: 0, question: false, keywords: [] });
  });

  it('finds whole keywords in any case, in the configured order', () => {
    assert.deepEqual(factsOf('URGENT: my refund, please help', ['help', 'refund', 'urgent']).keywords, ['help', 'refund', 'urgent']);
    assert.deepEqual(factsOf('refunds are helpful', ['help', 'refund']).keywords, []);
  });

  it('greets by name when the sender is known', () => {
    assert.equal(greet('Hello', 'ann'), 'Hello, ann!');
    assert.equal(greet('Hi', null), 'Hi!');
  });

  it('describes the facts in a sentence', () => {
    assert.equal(describeFacts({ words: 1, question: false, keywords: [] }), 'I see 1 word, no keywords.');
    assert.equal(describeFacts({ words: 5, question: true, keywords: ['refund'] }), 'I see 5 words, a question, keywords: refund.');
  });
});
`;
}

function readme(n: Names, engine: string): string {
  const env = `PINCER_PLUGIN_${n.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return `# pincer-plugin-${n.name}

A Pincer plugin. It stores a few facts about every
message under \`analysis.${n.name}\` (word count, whether it is a question, which keywords it
contains) and answers \`/${n.command} [text]\`.

| file | what |
|---|---|
| \`package.json\` | the \`pincer\` field: the Pincer versions it works with (\`engine\`), the plugin it provides (\`${n.name}\`: its \`entry\` \`./dist/index.js#plugin\` and the services it \`inject\`s and \`provides\`), its settings schema |
| \`index.ts\` | the entry: registers the analyzer and the command |
| \`core.ts\` | the logic, plain functions without Pincer |
| \`models.ts\` | types, including the settings (\`${n.configType}\`) |
| \`config.json\` | the settings: a JSON Schema whose properties carry the defaults |
| \`test/core.test.ts\` | unit tests of core.ts (node:test) |

## Build and test

\`\`\`sh
npm install
npm run build     # TypeScript -> dist/
npm test          # builds, then runs dist/test/*.test.js with node --test
\`\`\`

## Run it in a bot

If this folder is inside the bot's \`plugins/\` folder (where \`pincer plugin new\` puts it),
the bot already finds it. With the bot running (\`pincer start\`):

\`\`\`sh
npm run build
pincer plugin enable ${n.name}          # the first time
pincer plugin reload ${n.name}          # after each later build
pincer send "/${n.command} Can I get a refund?" --wait
\`\`\`

Developed anywhere else, install it into the running bot instead; this copies the folder
into the bot's \`plugins/\` folder and enables it. Installing again after a change replaces
the copy and reloads it.

\`\`\`sh
npm run build
pincer plugin install path/to/this/folder
\`\`\`

Neither needs a restart, and messages already in progress finish on the old code.

## Settings

Defaults are in \`config.json\`. A bot changes them in its \`pincer.config.yaml\`:

\`\`\`yaml
plugins:
  config:
    ${n.name}:
      greeting: Hi
      keywords: [refund, invoice]
\`\`\`

or in the environment: \`${env}_GREETING=Hi\`, \`${env}_KEYWORDS=refund,invoice\`.
Pincer checks them against \`config.json\` before the plugin starts.

## Publish

Choose a license (\`"license"\` in package.json), then \`npm publish\` (it builds and tests
first). Bots install it with \`pincer plugin install pincer-plugin-${n.name}\`. The
\`engine\` range (\`${engine}\`) says which Pincer versions it works with; Pincer refuses to
load it in any other.
`;
}
