import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import type { PincerConfig } from '../../src/config/schema.js';
import { Pincer } from '../../src/pincer.js';
import { PINCER_ROOT } from '../../src/version.js';
import type { MessageEventBus } from '../../src/events/types.js';
import { nextTerminal } from '../../src/events/wait.js';
import type { MessageRecord, QueueOptions } from '../../src/store/types.js';

/** A folder removed by the returned cleanup. */
export function tempDir(prefix = 'pincer-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A clock tests move by hand, so retries and leases are tested without sleeping. */
export class ManualClock {
  constructor(public time = 1_700_000_000_000) {}
  now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export function queueOptions(overrides: Partial<QueueOptions> = {}): QueueOptions {
  return {
    maxLength: 10_000,
    maxLengthCap: 100_000,
    retryDelayMs: 5_000,
    retryBackoff: 2,
    maxRetryDelayMs: 300_000,
    maxAttempts: 3,
    leaseMs: 30_000,
    agingMs: { normal: 10_000, low: 60_000 },
    commitBatch: 512,
    metadata: { maxDepth: 32, maxBytes: 65_536 },
    ...overrides,
  };
}

/** Collects log lines (JSON) in memory. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

/** Only the commands plugin by default: every other plugin thread would slow every test. */
export function testConfig(dataDir: string, env: Record<string, string> = {}): PincerConfig {
  return loadConfig({ cwd: dataDir, env: { PINCER_DATA_DIR: dataDir, PINCER_PORT: '0', PINCER_PLUGINS_ENABLED: 'commands', ...env } }).config;
}

export const FIXTURE_PLUGINS = path.resolve(import.meta.dirname, '../fixtures/plugins');

/** A project folder whose plugins/ holds copies of the named fixture plugins (free to edit). */
export function pluginProject(fixtures: string[]): { root: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir('pincer-project-');
  mkdirSync(path.join(dir, 'plugins'));
  for (const name of fixtures) cpSync(path.join(FIXTURE_PLUGINS, name), path.join(dir, 'plugins', name), { recursive: true });
  return { root: dir, cleanup };
}

export interface RunningPincer {
  pincer: Pincer;
  url: string;
  logs: LogCapture;
  dataDir: string;
  close(): Promise<void>;
}

/** Variables that would point a test's bot at a real model vendor; tests never inherit them. */
const MODEL_VARIABLES = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OLLAMA_HOST', 'MODEL_PATH', 'API_KEY', 'PINCER_CONFIG'];

/** process.env without the model variables a developer's shell may hold. */
export function hermeticEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of MODEL_VARIABLES) delete env[name];
  return env;
}

/** A real Pincer on 127.0.0.1 and a free port, over a temp SQLite store. */
export async function startPincer(env: Record<string, string> = {}, setup?: (p: Pincer) => void): Promise<RunningPincer> {
  const { dir, cleanup } = tempDir();
  const logs = new LogCapture();
  const pincer = await Pincer.create({ config: testConfig(dir, env), logDestination: logs, env: { ...hermeticEnv(), ...env } });
  setup?.(pincer);
  const url = await pincer.start();
  return {
    pincer,
    url,
    logs,
    dataDir: dir,
    close: async () => {
      await pincer.close();
      cleanup();
    },
  };
}

export { eventually } from './eventually.js';

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? safeJson(text) : undefined, headers: res.headers };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: text ? safeJson(text) : undefined, headers: res.headers };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * What `npm install` would put in a scaffolded package's node_modules, as links into this
 * repo (typescript, @types/node, and pincer = this repo, whose dist/ the root pretest builds),
 * so scaffolds build offline.
 */
export function linkBuildTools(dir: string): void {
  const repoModules = path.join(PINCER_ROOT, 'node_modules');
  const modules = path.join(dir, 'node_modules');
  mkdirSync(path.join(modules, '@types'), { recursive: true });
  mkdirSync(path.join(modules, '.bin'));
  symlinkSync(path.join(repoModules, 'typescript'), path.join(modules, 'typescript'));
  symlinkSync(path.join(repoModules, '@types', 'node'), path.join(modules, '@types', 'node'));
  symlinkSync(PINCER_ROOT, path.join(modules, 'pincer'));
  symlinkSync('../typescript/bin/tsc', path.join(modules, '.bin', 'tsc'));
}

/** Runs npm in `dir`, untouched by the npm_* settings of whatever started vitest; returns its output. */
export function npm(dir: string, args: string[]): string {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  Object.assign(env, { npm_config_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
  try {
    return execFileSync('npm', args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${dir}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}


/** A message as a worker holds it, for pipeline tests that need no queue. */
export function messageRecord(text: string): MessageRecord {
  return {
    id: 'm1', conversationId: 'c1', text, sender: null, channel: 'test', priority: 'normal', metadata: null, idempotencyKey: null, state: 'processing',
    attempts: 1, createdAt: 0, updatedAt: 0, availableAt: 0, startedAt: 0, finishedAt: null, analysis: {}, reply: null, lastError: null,
  };
}

/** The JSON text of `{ a: { a: ... } }`, `levels` objects deep, written without recursion (JSON.stringify would overflow). */
export function nestedJson(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{"leaf":true}${'}'.repeat(levels - 1)}`;
}

/**
 * 50 good messages and 5 whose metadata nests 5,000 levels (the body that once failed a whole group commit), sent at once so they share group
 * commits: every good one must be accepted (202) and every hostile one refused alone (400).
 */
export async function sendHostileMix(url: string): Promise<{ good: number[]; hostile: Array<{ status: number; code: string }> }> {
  const deep = `{"text":"deep","metadata":${nestedJson(5000)}}`;
  const sends = Array.from({ length: 55 }, (_, i) => (i % 11 === 10 ? postJson(`${url}/v1/messages`, deep) : postJson(`${url}/v1/messages`, { text: `/echo good ${i}`, metadata: { i } })));
  const results = await Promise.all(sends);
  return {
    good: results.filter((_, i) => i % 11 !== 10).map((r) => r.status),
    hostile: results.filter((_, i) => i % 11 === 10).map((r) => ({ status: r.status, code: r.body?.error?.code as string })),
  };
}

/** Resolves true when a done or dead status for the message is heard on the bus, false on timeout. */
export async function waitForTerminal(bus: MessageEventBus, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await nextTerminal(bus, id, Math.max(0, deadline - Date.now()));
    if (outcome !== 'resync') return outcome === 'terminal';
  }
}
