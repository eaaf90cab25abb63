import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { PincerError } from '../errors.js';

/** A template's files: contents by path relative to the folder it is written into. */
export type TemplateFiles = Record<string, string>;

/** Scaffolding never overwrites work: the target must be missing or an empty folder. */
export function assertEmptyDir(dir: string): void {
  let stats;
  try {
    stats = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stats.isDirectory()) {
    throw new PincerError('SCAFFOLD_DIR_NOT_EMPTY', `${dir} exists and is not a folder; choose a new folder`, { dir });
  }
  const entries = readdirSync(dir);
  if (entries.length > 0) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', ...' : '');
    throw new PincerError('SCAFFOLD_DIR_NOT_EMPTY', `${dir} is not empty (it holds ${shown}); choose a new or empty folder`, { dir });
  }
}

/** Writes every file, returning their relative paths; `wx` keeps a file appearing meanwhile intact. */
export function writeTemplate(dir: string, files: TemplateFiles): string[] {
  for (const [relative, content] of Object.entries(files)) {
    const full = path.join(dir, relative);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content, { flag: 'wx' });
  }
  return Object.keys(files);
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function parseVersion(version: string): semver.SemVer {
  const parsed = semver.parse(version);
  if (!parsed) throw new PincerError('SCAFFOLD_VERSION_INVALID', `"${version}" is not a semver version of Pincer`);
  return parsed;
}

/**
 * The Pincer versions a new plugin declares it works with (S5.3): the running major. Below
 * 1.0 a caret range would pin the patch level, so there it spans the minor.
 */
export function engineRange(version: string): string {
  const v = parseVersion(version);
  return v.major === 0 ? `^0.${v.minor}.0` : `^${v.major}.0.0`;
}
