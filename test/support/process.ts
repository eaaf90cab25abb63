import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { hermeticEnv } from './index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI; `npm test` builds first (pretest). */
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PincerProcess {
  child: ChildProcess;
  url: string;
  /** Every line it printed (stdout and stderr). */
  output: string[];
  exited: Promise<number | null>;
}

/** Run `pincer start` and resolve once it logs that it is listening. */
export async function spawnPincer(env: Record<string, string>, cwd: string): Promise<PincerProcess> {
  const child = spawn(process.execPath, [CLI, 'start'], { cwd, env: { ...hermeticEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pincer did not start in 15 s:\n${output.join('\n')}`)), 15_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (line.includes('"event":"listening"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pincer exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
  return { child, url, output, exited };
}

/** Run the CLI to completion. */
export function runCli(args: string[], options: { cwd: string; env?: Record<string, string>; input?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...hermeticEnv(), ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(options.input ?? '');
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
