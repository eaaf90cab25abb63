import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hermeticEnv, pluginProject, tempDir } from '../support/index.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const MB = 1024 * 1024;
const SCRIPT = path.resolve(import.meta.dirname, '../fixtures/scripts/reload-memory.mjs');

describe('reloading does not leak', () => {
  it('grows a running Pincer by less than 20 MB over 1,000 reloads', () => {
    const project = pluginProject(['greeter']);
    const data = tempDir();
    cleanups.push(project.cleanup, data.cleanup);
    const out = execFileSync(process.execPath, ['--expose-gc', SCRIPT, project.root, data.dir, 'greeter', '1000'], { encoding: 'utf8', timeout: 280_000, env: hermeticEnv() });
    const result = JSON.parse(out.trim().split('\n').pop() as string);
    const grown = (result.after.rss - result.before.rss) / MB;
    console.log(`rss ${(result.startRss / MB).toFixed(1)} MB before any reload; 1,000 reloads after 250 warm-up ones: rss ${(result.before.rss / MB).toFixed(1)} -> ${(result.after.rss / MB).toFixed(1)} MB (${grown.toFixed(1)} MB), ${result.msPerReload.toFixed(1)} ms per reload`);
    expect(result).toMatchObject({ state: 'enabled', generation: 1251 });
    expect(grown).toBeLessThan(20);
  }, 300_000);
});
