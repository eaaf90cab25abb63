import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { PincerError } from '../errors.js';
import { ManifestError, parseManifest } from './manifest.js';

const run = promisify(execFile);
const NPM_TIMEOUT_MS = 5 * 60 * 1000;

export interface InstallResult {
  source: string;
  kind: 'folder' | 'npm';
  /** Real path of the installed package. */
  dir: string;
  packageName: string;
  version: string;
}

/**
 * A folder is copied into <root>/plugins/<name> (replacing an earlier copy in one rename);
 * anything else is an npm spec (name, name@range, tarball, git URL) installed into <root>
 * with npm, so it lands in node_modules and package.json like any dependency.
 */
export async function installPlugin(source: string, options: { root: string; log: Logger }): Promise<InstallResult> {
  const asPath = path.resolve(options.root, source);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) return installFolder(source, asPath, options);
  return installFromNpm(source, options);
}

function readPackage(dir: string): { name: string; version: string; pincer: unknown } {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown; pincer?: unknown };
    return { name: typeof pkg.name === 'string' ? pkg.name : path.basename(dir), version: typeof pkg.version === 'string' ? pkg.version : '0.0.0', pincer: pkg.pincer };
  } catch (err) {
    throw new PincerError('PLUGIN_INSTALL_INVALID', `${dir} has no readable package.json (${(err as Error).message})`);
  }
}

async function installFolder(source: string, from: string, options: { root: string; log: Logger }): Promise<InstallResult> {
  const pkg = readPackage(from);
  if (pkg.pincer === undefined) throw new PincerError('PLUGIN_INSTALL_INVALID', `${from}/package.json has no "pincer" field, so it is not a Pincer plugin`, { field: 'pincer' });
  try {
    // Refuse a broken manifest before touching the project.
    parseManifest(realpathSync(from), pkg.pincer);
  } catch (err) {
    if (err instanceof ManifestError) throw new PincerError(err.problem.code, `${pkg.name}: ${err.problem.field}: ${err.problem.message}`, { field: err.problem.field });
    throw err;
  }
  const pluginsDir = path.join(options.root, 'plugins');
  // Already a folder of <root>/plugins (say, made there by `pincer plugin new`): nothing to copy.
  if (existsSync(pluginsDir) && path.dirname(realpathSync(from)) === realpathSync(pluginsDir)) {
    return { source, kind: 'folder', dir: realpathSync(from), packageName: pkg.name, version: pkg.version };
  }
  const folder = pkg.name.replace(/^@/, '').replace(/[^\w.-]/g, '-');
  const target = path.join(pluginsDir, folder);
  // The name comes from the package: ".", ".." or "" would make the target plugins/ itself or
  // the project, and the swap below would delete it.
  if (!/^[A-Za-z0-9][\w.-]*$/.test(folder) || path.dirname(target) !== pluginsDir) {
    throw new PincerError('PLUGIN_INSTALL_INVALID', `package name ${JSON.stringify(pkg.name)} cannot name a folder under plugins/`, { field: 'name' });
  }
  await mkdir(pluginsDir, { recursive: true });
  const staging = `${target}.installing-${process.pid}-${Date.now()}`;
  const old = `${target}.old-${process.pid}-${Date.now()}`;
  await cp(from, staging, { recursive: true, filter: (src) => path.basename(src) !== '.git' });
  if (existsSync(target)) await rename(target, old);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
  options.log.info({ event: 'plugin.installed', source, dir: target, package: pkg.name, version: pkg.version }, `installed ${pkg.name}@${pkg.version} into ${target}`);
  return { source, kind: 'folder', dir: realpathSync(target), packageName: pkg.name, version: pkg.version };
}

function dependencies(root: string): Record<string, string> {
  try {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    return pkg.dependencies ?? {};
  } catch {
    return {};
  }
}

/** The package an npm spec names: from the dependency it added or changed, else from the spec. */
function installedName(spec: string, before: Record<string, string>, after: Record<string, string>): string | undefined {
  const changed = Object.keys(after).find((name) => before[name] !== after[name]);
  if (changed) return changed;
  const byValue = Object.entries(after).find(([, value]) => value.endsWith(path.basename(spec)));
  if (byValue) return byValue[0];
  const match = /^(@[^/@]+\/[^@]+|[^@/][^@]*)(?:@.*)?$/.exec(spec);
  return match?.[1];
}

async function installFromNpm(spec: string, options: { root: string; log: Logger }): Promise<InstallResult> {
  if (spec.startsWith('-')) throw new PincerError('PLUGIN_INSTALL_INVALID', `"${spec}" is not a folder or an npm package spec`);
  const before = dependencies(options.root);
  await mkdir(options.root, { recursive: true });
  options.log.info({ event: 'plugin.install', spec, root: options.root }, `npm install ${spec}`);
  try {
    await run('npm', ['install', '--save', '--no-audit', '--no-fund', '--', spec], { cwd: options.root, timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').filter((l) => /ERR/.test(l)).slice(0, 6).join('\n');
    throw new PincerError('PLUGIN_INSTALL_FAILED', `npm install ${spec} failed: ${stderr || (err as Error).message}`);
  }
  const name = installedName(spec, before, dependencies(options.root));
  const dir = name ? path.join(options.root, 'node_modules', name) : undefined;
  if (!name || !dir || !existsSync(dir)) throw new PincerError('PLUGIN_INSTALL_FAILED', `npm installed ${spec}, but Pincer cannot tell which package it was`);
  const pkg = readPackage(dir);
  if (pkg.pincer === undefined) throw new PincerError('PLUGIN_INSTALL_INVALID', `${pkg.name} was installed, but it is not a Pincer plugin (no "pincer" field)`, { field: 'pincer' });
  options.log.info({ event: 'plugin.installed', source: spec, dir, package: pkg.name, version: pkg.version }, `installed ${pkg.name}@${pkg.version}`);
  return { source: spec, kind: 'npm', dir: realpathSync(dir), packageName: pkg.name, version: pkg.version };
}
