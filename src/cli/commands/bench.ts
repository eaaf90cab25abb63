import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Command } from 'commander';
import { PincerError } from '../../errors.js';
import { PINCER_ROOT } from '../../version.js';

const SECTIONS = ['startup', 'http', 'queue', 'latency', 'plugins', 'models', 'cluster'];

/** `pincer bench`: the benchmark runner of a source checkout (docs/benchmarks.md). */
export function benchCommand(program: Command): void {
  program
    .command('bench')
    .description(`measure this machine: ingest vs bare Fastify, end to end, queue vs BullMQ, latency, plugins, models, cluster on PostgreSQL; prints a table (sections: ${SECTIONS.join(', ')})`)
    .option('--only <sections>', 'comma-separated sections to run')
    .action(async (options: { only?: string }) => {
      const runner = path.join(PINCER_ROOT, 'dist', 'bench', 'run.js');
      // The runner drives load with autocannon and compares with BullMQ: development tools that
      // an installed package does not carry.
      let toolsFound = true;
      try {
        createRequire(path.join(PINCER_ROOT, 'package.json')).resolve('autocannon');
      } catch {
        toolsFound = false;
      }
      if (!existsSync(runner) || !toolsFound) {
        throw new PincerError('BENCH_UNAVAILABLE', `the benchmark needs a source checkout with its dev dependencies (git clone, npm ci, npm run bench); not found under ${PINCER_ROOT}`);
      }
      const only = options.only?.split(',').map((s) => s.trim()).filter(Boolean);
      for (const section of only ?? []) if (!SECTIONS.includes(section)) throw new PincerError('BENCH_UNKNOWN_SECTION', `--only: no section "${section}"; sections: ${SECTIONS.join(', ')}`);
      const child = spawn(process.execPath, [runner], { stdio: 'inherit', env: { ...process.env, ...(only && { BENCH_ONLY: only.join(',') }) } });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      process.exitCode = code ?? 1;
    });
}
