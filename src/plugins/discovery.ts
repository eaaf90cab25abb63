import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { checkEngine, checkEntry, ManifestError, parseManifest, type PluginEntry, type PluginProblem } from './manifest.js';

/**
 * Finds plugins by reading package.json files only: no plugin code runs here. Locations, in
 * precedence order when two packages offer the same plugin name: the project's plugins/
 * folder, its node_modules (including @scope/ folders), then the plugins bundled with Pincer.
 */

export type PluginSource = 'plugins' | 'node_modules' | 'bundled';

export interface DiscoveredPlugin {
  name: string;
  packageName: string;
  version: string;
  /** Real path of the package folder. */
  dir: string;
  source: PluginSource;
  entry: PluginEntry | undefined;
  engine: string | undefined;
  configPath: string | undefined;
  /** Why this plugin cannot run, found before loading it. */
  problem: PluginProblem | undefined;
}

export interface DiscoveryOptions {
  root: string;
  /** Pincer's install folder, scanned for bundled plugins; undefined to skip. */
  bundledRoot: string | undefined;
  pincerVersion: string;
}

export function discoverPlugins(options: DiscoveryOptions): DiscoveredPlugin[] {
  const seenDirs = new Set<string>();
  const byName = new Map<string, DiscoveredPlugin>();
  const out: DiscoveredPlugin[] = [];
  const locations: Array<[string, PluginSource]> = [
    [path.join(options.root, 'plugins'), 'plugins'],
    [path.join(options.root, 'node_modules'), 'node_modules'],
  ];
  if (options.bundledRoot) locations.push([path.join(options.bundledRoot, 'plugins'), 'bundled']);

  for (const [folder, source] of locations) {
    for (const dir of packageDirs(folder, source === 'node_modules')) {
      let real: string;
      try {
        real = realpathSync(dir);
      } catch {
        continue;
      }
      if (seenDirs.has(real)) continue;
      seenDirs.add(real);
      for (const found of readPackage(real, source, options.pincerVersion)) {
        const earlier = byName.get(found.name);
        if (earlier) {
          found.problem ??= { code: 'PLUGIN_DUPLICATE', field: `pincer.plugins.${found.name}`, message: `plugin "${found.name}" is also provided by ${earlier.packageName} (${earlier.dir}), which takes precedence` };
        } else {
          byName.set(found.name, found);
        }
        out.push(found);
      }
    }
  }
  return out;
}

function packageDirs(folder: string, scoped: boolean): string[] {
  let names: string[];
  try {
    names = readdirSync(folder).sort();
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const full = path.join(folder, name);
    if (scoped && name.startsWith('@')) {
      dirs.push(...packageDirs(full, false));
      continue;
    }
    if (isDir(full)) dirs.push(full);
  }
  return dirs;
}

function isDir(full: string): boolean {
  try {
    return statSync(full).isDirectory();
  } catch {
    return false;
  }
}

function readPackage(dir: string, source: PluginSource, pincerVersion: string): DiscoveredPlugin[] {
  let pkg: Record<string, unknown>;
  const fallbackName = path.basename(dir);
  const broken = (problem: PluginProblem, packageName = fallbackName, version = '0.0.0'): DiscoveredPlugin[] => [
    { name: packageName, packageName, version, dir, source, entry: undefined, engine: undefined, configPath: undefined, problem },
  ];
  try {
    pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    // A folder under node_modules without a readable package.json is not ours to judge.
    if (source === 'node_modules') return [];
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'has no package.json' : `package.json is not valid JSON: ${(err as Error).message}`;
    return broken({ code: 'PLUGIN_MANIFEST_INVALID', field: 'package.json', message: `${dir} ${reason}` });
  }
  const packageName = typeof pkg.name === 'string' ? pkg.name : fallbackName;
  const version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  if (pkg.pincer === undefined) {
    if (source === 'node_modules') return [];
    return broken({ code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer', message: `package.json has no "pincer" field declaring its plugins` }, packageName, version);
  }
  try {
    const manifest = parseManifest(dir, pkg.pincer);
    const engineProblem = checkEngine(manifest.engine, pincerVersion);
    return manifest.entries.map((entry) => ({
      name: entry.name,
      packageName,
      version,
      dir,
      source,
      entry,
      engine: manifest.engine,
      configPath: manifest.configPath,
      problem: engineProblem ?? checkEntry(entry, dir),
    }));
  } catch (err) {
    if (err instanceof ManifestError) return broken(err.problem, packageName, version);
    throw err;
  }
}
