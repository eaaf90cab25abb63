import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pincer's own package.json, found from here whether running from src/ or dist/src/. */
function findPackage(): { root: string; version: string } {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pincer' && pkg.version) return { root: dir, version: pkg.version };
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find Pincer\'s package.json');
    dir = parent;
  }
}

const found = findPackage();

/** Plugins check their `engine` range against this (S5.3). */
export const PINCER_VERSION: string = found.version;

/** The folder Pincer is installed in; its plugins/ holds the bundled plugins. */
export const PINCER_ROOT: string = found.root;
