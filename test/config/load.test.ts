import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/duration.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../support/index.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function folder(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('parseDuration', () => {
  it('reads seconds as numbers and unit strings', () => {
    expect(parseDuration(5)).toBe(5000);
    expect(parseDuration('5')).toBe(5000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('5 parsecs')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(true)).toBeUndefined();
  });
});

describe('loadConfig', () => {
  it('gives the documented defaults with no file', () => {
    const dir = folder();
    const { config, file } = loadConfig({ cwd: dir, env: {} });
    expect(file).toBeUndefined();
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 7700 });
    expect(config.queue).toMatchObject({ max_length: 10_000, retry_delay: 5_000 });
    expect(config.data_dir).toBe(path.join(dir, 'data'));
    expect(config.store).toBe(`sqlite:${path.join(dir, 'data', 'pincer.db')}`);
  });

  it('reads YAML, then lets the environment override any key', () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'server:\n  port: 8800\nqueue:\n  max_length: 50\n  retry_delay: 2\nworkers:\n  concurrency: 4\n');
    const { config, file } = loadConfig({
      cwd: dir,
      env: { PINCER_PORT: '9900', PINCER_QUEUE_RETRY_DELAY: '750ms', PINCER_API_TOKENS: 'token-one-1, token-two-2', PINCER_LOG_ACCESS: 'false' },
    });
    expect(file).toBe(path.join(dir, 'pincer.config.yaml'));
    expect(config.server.port).toBe(9900);
    expect(config.queue.max_length).toBe(50);
    expect(config.queue.retry_delay).toBe(750);
    expect(config.workers.concurrency).toBe(4);
    expect(config.auth.tokens).toEqual(['token-one-1', 'token-two-2']);
    expect(config.log.access).toBe(false);
  });

  it('reaches keys without a default from the environment: the model settings', () => {
    const { config } = loadConfig({ cwd: folder(), env: { PINCER_MODELS_TEMPERATURE: '0', PINCER_MODELS_MAX_TOKENS: '256', PINCER_QUEUE_MAX_METADATA_DEPTH: '8' } });
    expect(config.models.temperature).toBe(0);
    expect(config.models.max_tokens).toBe(256);
    expect(config.queue.max_metadata_depth).toBe(8);
    expect(problems(() => loadConfig({ cwd: folder(), env: { PINCER_MODELS_TEMPERATURE: 'hot' } }))[0]).toMatch(/models\.temperature = "hot" \(from PINCER_MODELS_TEMPERATURE\)/);
  });

  it('reaches keys without a default from the environment: the knowledge folder and vector weight', () => {
    const { config } = loadConfig({ cwd: folder(), env: { PINCER_KB_DIR: 'knowledge', PINCER_KB_VECTOR_WEIGHT: '0.5' } });
    expect(config.kb.dir).toBe('knowledge');
    expect(config.kb.vector_weight).toBe(0.5);
  });

  it('reads JSON config', () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'pincer.config.json'), JSON.stringify({ queue: { max_length: 77 } }));
    expect(loadConfig({ cwd: dir, env: {} }).config.queue.max_length).toBe(77);
  });

  it('names the key, the value, where it came from and what was expected', () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'queue:\n  max_length: lots\n  retry_delay: soon\nlog:\n  level: loud\n');
    const found = problems(() => loadConfig({ cwd: dir, env: { PINCER_PORT: '70000' } }));
    expect(found).toContain('queue.max_length = "lots" (from pincer.config.yaml): expected number');
    expect(found.find((p) => p.startsWith('queue.retry_delay = "soon"'))).toMatch(/expected a duration/);
    expect(found.find((p) => p.startsWith('log.level'))).toMatch(/expected one of "fatal", "error"/);
    expect(found).toContain('server.port = 70000 (from PINCER_PORT): expected a value of at most 65535');
  });

  it('rejects unknown keys so typos do not pass silently', () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'queue:\n  max_lenght: 5\n');
    expect(problems(() => loadConfig({ cwd: dir, env: {} }))[0]).toMatch(/^queue\.max_lenght: unknown key/);
  });

  it('checks that the cap is not below the limit', () => {
    const dir = folder();
    expect(problems(() => loadConfig({ cwd: dir, env: { PINCER_QUEUE_MAX_LENGTH: '500', PINCER_QUEUE_MAX_LENGTH_CAP: '100' } }))[0]).toMatch(
      /^queue\.max_length_cap = 100 .*must be at least queue\.max_length \(500\)/,
    );
  });

  it('reports a file that does not parse', () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'queue: [unclosed\n');
    expect(problems(() => loadConfig({ cwd: dir, env: {} }))[0]).toMatch(/cannot parse/);
    writeFileSync(path.join(dir, 'pincer.config.yaml'), '- just\n- a list\n');
    expect(problems(() => loadConfig({ cwd: dir, env: {} }))[0]).toMatch(/top level must be a mapping/);
  });

  it('reports a missing explicit config file and a bad store URL', () => {
    const dir = folder();
    expect(problems(() => loadConfig({ cwd: dir, env: {}, file: 'nope.yaml' }))[0]).toMatch(/does not exist/);
    expect(problems(() => loadConfig({ cwd: dir, env: { PINCER_STORE: 'mysql://x' } }))[0]).toMatch(/^store = "mysql:\/\/x" \(from PINCER_STORE\): expected "sqlite:<path>"/);
  });
});
