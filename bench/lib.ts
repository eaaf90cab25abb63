import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(DIST, 'src', 'cli', 'main.js');

export interface Child {
  child: ChildProcess;
  url: string;
  startedAt: number;
  stop(): Promise<void>;
}

/** Start a node script that prints a JSON line with event "listening" and its url. */
export async function spawnServer(args: string[], env: Record<string, string>, cwd: string): Promise<Child> {
  const startedAt = performance.now();
  // The figures are for the built-in model: vendor keys in the shell must not send load to a vendor.
  const inherited = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OLLAMA_HOST', 'MODEL_PATH', 'API_KEY', 'PINCER_CONFIG']) delete inherited[name];
  const child = spawn(process.execPath, args, { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 20 s')), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('"event":"listening"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    child,
    url,
    startedAt,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident set size of a process, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export interface Row {
  measure: string;
  result: string;
  reference?: string;
  target?: string;
  verdict?: 'met' | 'missed' | 'n/a';
}

export function printTable(rows: readonly Row[]): void {
  const cells = [['measure', 'Pincer', 'reference', 'target', ''], ...rows.map((r) => [r.measure, r.result, r.reference ?? '', r.target ?? '', r.verdict ?? ''])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => '| ' + row.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(cells[0]!));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of cells.slice(1)) console.log(line(row));
}
