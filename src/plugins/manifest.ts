import { existsSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import type { ErrorCode } from '../errors.js';

/**
 * The `pincer` field of a plugin package's package.json, checked without running any of the
 * plugin's code. Every problem is coded and names the field, so `pincer plugin list` and the
 * log can say exactly what to fix.
 */

export interface PluginProblem {
  code: ErrorCode;
  /** The manifest or config field at fault, e.g. "pincer.engine" or "config.threshold". */
  field: string;
  message: string;
}

export interface PluginEntry {
  /** The plugin's name: the key in `pincer.plugins`. */
  name: string;
  /** Absolute path of the module to import. */
  modulePath: string;
  exportName: string;
  /** Services it needs from other plugins, declared as data so they are known before it runs. */
  inject: string[];
  /** Services it offers with ctx.provide. */
  provides: string[];
}

export interface PluginManifest {
  engine: string;
  entries: PluginEntry[];
  /** Absolute path of config.json, if the package has one. */
  configPath: string | undefined;
}

const PLUGIN_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const ENTRY = /^([^#]+?)(?:#([A-Za-z_$][\w$]*))?$/;
const SERVICE_NAME = /^[A-Za-z][\w.-]{0,63}$/;

export class ManifestError extends Error {
  constructor(readonly problem: PluginProblem) {
    super(problem.message);
  }
}

function fail(code: ErrorCode, field: string, message: string): never {
  throw new ManifestError({ code, field, message });
}

/** Shape of the manifest; throws ManifestError naming the field. */
export function parseManifest(dir: string, field: unknown): PluginManifest {
  if (!field || typeof field !== 'object' || Array.isArray(field)) fail('PLUGIN_MANIFEST_INVALID', 'pincer', 'the "pincer" field must be an object with "engine" and "plugins"');
  const manifest = field as Record<string, unknown>;
  for (const key of Object.keys(manifest)) {
    if (!['engine', 'plugins', 'config'].includes(key)) fail('PLUGIN_MANIFEST_INVALID', `pincer.${key}`, `unknown key "${key}" (expected engine, plugins, config)`);
  }
  const engine = manifest.engine;
  if (typeof engine !== 'string' || semver.validRange(engine) === null) {
    fail('PLUGIN_MANIFEST_INVALID', 'pincer.engine', `must be a semver range of Pincer versions such as "^1.0.0" (got ${JSON.stringify(engine)})`);
  }
  const plugins = manifest.plugins;
  if (!plugins || typeof plugins !== 'object' || Array.isArray(plugins) || Object.keys(plugins).length === 0) {
    fail('PLUGIN_MANIFEST_INVALID', 'pincer.plugins', 'must map at least one plugin name to "module#export"');
  }
  const entries: PluginEntry[] = [];
  for (const [name, spec] of Object.entries(plugins as Record<string, unknown>)) {
    const where = `pincer.plugins.${name}`;
    if (!PLUGIN_NAME.test(name)) fail('PLUGIN_MANIFEST_INVALID', where, `plugin name "${name}" must be lower-case letters, digits and "-", starting with a letter`);
    entries.push(parseEntry(dir, name, where, spec));
  }
  let configPath: string | undefined;
  if (manifest.config !== undefined) {
    if (typeof manifest.config !== 'string') fail('PLUGIN_MANIFEST_INVALID', 'pincer.config', 'must be the path of a config.json file');
    configPath = path.resolve(dir, manifest.config);
    if (!configPath.startsWith(dir + path.sep)) fail('PLUGIN_MANIFEST_INVALID', 'pincer.config', `"${manifest.config}" is outside the package`);
    if (!existsSync(configPath)) fail('PLUGIN_CONFIG_MISSING', 'pincer.config', `${manifest.config} does not exist in ${dir}`);
  }
  return { engine: engine as string, entries, configPath };
}

/** `"module#export"`, or `{ "entry": "module#export", "inject": [...], "provides": [...] }`. */
function parseEntry(dir: string, name: string, where: string, spec: unknown): PluginEntry {
  const object = spec && typeof spec === 'object' && !Array.isArray(spec) ? (spec as Record<string, unknown>) : undefined;
  if (object) {
    for (const key of Object.keys(object)) {
      if (!['entry', 'inject', 'provides'].includes(key)) fail('PLUGIN_MANIFEST_INVALID', `${where}.${key}`, `unknown key "${key}" (expected entry, inject, provides)`);
    }
  }
  const entry = object ? object.entry : spec;
  const entryField = object ? `${where}.entry` : where;
  const match = typeof entry === 'string' ? ENTRY.exec(entry.trim()) : null;
  if (!match) fail('PLUGIN_MANIFEST_INVALID', entryField, `must be "path/to/module.js#exportName" (got ${JSON.stringify(entry)})`);
  const modulePath = path.resolve(dir, match[1] as string);
  if (!modulePath.startsWith(dir + path.sep)) fail('PLUGIN_MANIFEST_INVALID', entryField, `module "${match[1]}" is outside the package`);
  return {
    name,
    modulePath,
    exportName: match[2] ?? 'default',
    inject: serviceNames(object?.inject, `${where}.inject`),
    provides: serviceNames(object?.provides, `${where}.provides`),
  };
}

function serviceNames(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !SERVICE_NAME.test(v))) {
    fail('PLUGIN_MANIFEST_INVALID', field, `must be a list of service names (letters, digits, ".", "_", "-"; got ${JSON.stringify(value)})`);
  }
  const names = value as string[];
  if (new Set(names).size !== names.length) fail('PLUGIN_MANIFEST_INVALID', field, 'names a service twice');
  return names;
}

/**
 * The definition's own `inject`/`provides` is an assertion about the manifest: when present it
 * must list the same services, so the two never drift apart silently.
 */
export function checkDeclared(entry: PluginEntry, declared: { inject: readonly string[] | undefined; provides: readonly string[] | undefined }): PluginProblem | undefined {
  for (const key of ['inject', 'provides'] as const) {
    const inCode = declared[key];
    if (inCode === undefined) continue;
    const same = inCode.length === entry[key].length && inCode.every((s) => entry[key].includes(s));
    if (!same) {
      return {
        code: 'PLUGIN_MANIFEST_MISMATCH',
        field: `pincer.plugins.${entry.name}.${key}`,
        message: `the plugin's code declares ${key} ${JSON.stringify([...inCode])}, its manifest ${JSON.stringify(entry[key])}; declare services in package.json (the code's copy is optional)`,
      };
    }
  }
  return undefined;
}

/** S5.3: a plugin declares the Pincer versions it works with; anything else is refused. */
export function checkEngine(engine: string, pincerVersion: string): PluginProblem | undefined {
  if (semver.satisfies(pincerVersion, engine, { includePrerelease: true })) return undefined;
  return {
    code: 'PLUGIN_ENGINE_MISMATCH',
    field: 'pincer.engine',
    message: `needs Pincer ${engine}, this is Pincer ${pincerVersion}; install a version of the plugin made for Pincer ${semver.major(pincerVersion)}.x`,
  };
}

export function checkEntry(entry: PluginEntry, dir: string): PluginProblem | undefined {
  if (existsSync(entry.modulePath)) return undefined;
  const relative = path.relative(dir, entry.modulePath);
  return {
    code: 'PLUGIN_ENTRY_MISSING',
    field: `pincer.plugins.${entry.name}`,
    message: `${relative} does not exist; if the plugin is written in TypeScript, build it first (npm run build in ${dir})`,
  };
}
