import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { UpstreamHealth } from '../../src/cluster/upstream-health.js';
import { tempDir } from '../support/index.js';

describe('upstream health checks (S2.5)', () => {
  it('marks a node down after `fall` failures and up after `rise` passes, rewriting the block and reloading', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'upstream.conf');
    const healthy = new Map([['10.0.0.1:7700', true], ['10.0.0.2:7700', true]]);
    const reloads = path.join(dir, 'reloads');
    const health = new UpstreamHealth({
      nodes: [...healthy.keys()],
      file,
      name: 'pincer',
      intervalMs: 60_000,
      timeoutMs: 1000,
      fall: 3,
      rise: 2,
      // A real command, run on each change: it leaves one line per reload.
      reload: ['sh', '-c', `echo reload >> ${reloads}`],
      log: pino({ level: 'silent' }),
      probe: async (node) => healthy.get(node) ?? false,
    });
    try {
      await health.start();
      expect(readFileSync(file, 'utf8')).toMatch(/server 10\.0\.0\.2:7700 max_fails=1 fail_timeout=2s;/);
      healthy.set('10.0.0.2:7700', false);
      await health.check();
      await health.check();
      expect(health.view[1]?.up).toBe(true); // two failures are not three
      await health.check();
      expect(health.view[1]?.up).toBe(false);
      expect(readFileSync(file, 'utf8')).toMatch(/server 10\.0\.0\.2:7700 down;/);
      healthy.set('10.0.0.2:7700', true);
      await health.check();
      expect(health.view[1]?.up).toBe(false);
      // A pass, a failure, then two passes: the streak restarts.
      healthy.set('10.0.0.2:7700', false);
      await health.check();
      healthy.set('10.0.0.2:7700', true);
      await health.check();
      expect(health.view[1]?.up).toBe(false);
      await health.check();
      expect(health.view[1]?.up).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/server 10\.0\.0\.2:7700 max_fails/);
      // Reloaded on the two changes only.
      expect(readFileSync(reloads, 'utf8')).toBe('reload\nreload\n');
    } finally {
      await health.stop();
      cleanup();
    }
  });

  it('keeps one server listed when every node is down, so nginx still loads the block', () => {
    const health = new UpstreamHealth({ nodes: ['a:1', 'b:2'], file: '/dev/null', name: 'p', intervalMs: 1, timeoutMs: 1, fall: 1, rise: 1, reload: ['true'], log: pino({ level: 'silent' }), probe: async () => false });
    return health.check().then(() => {
      expect(health.render()).toMatch(/server a:1 max_fails=1 fail_timeout=2s;\n {2}server b:2 down;/);
    });
  });
});

describe('upstream health checks when nginx cannot be reloaded', () => {
  it('keeps retrying the write and reload until nginx has the change', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'upstream.conf');
    const broken = path.join(dir, 'reload-broken');
    const reloads = path.join(dir, 'reloads');
    writeFileSync(broken, '');
    let up = true;
    const health = new UpstreamHealth({
      nodes: ['10.0.0.1:7700'],
      file,
      name: 'pincer',
      intervalMs: 60_000,
      timeoutMs: 1000,
      fall: 1,
      rise: 1,
      // Fails while the flag file exists, then reloads (leaving a line per success).
      reload: ['sh', '-c', `test ! -e ${broken} && echo reload >> ${reloads}`],
      log: pino({ level: 'silent' }),
      probe: async () => up,
    });
    try {
      await health.start();
      up = false;
      await health.check();
      expect(health.view[0]?.up).toBe(false);
      expect(existsSync(reloads)).toBe(false);
      // Nothing changed since, but nginx still has the old block: the next round tries again.
      rmSync(broken);
      await health.check();
      expect(readFileSync(reloads, 'utf8')).toBe('reload\n');
      await health.check();
      expect(readFileSync(reloads, 'utf8')).toBe('reload\n');
    } finally {
      await health.stop();
      cleanup();
    }
  });
});
