import type { Command } from 'commander';
import { runChecks } from '../../doctor/checks.js';
import { print, table } from '../output.js';

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;

export function doctorCommand(program: Command, globals: () => { config?: string; json?: boolean }): void {
  program
    .command('doctor')
    .description('check configuration, storage, disk, port and model deployments (keys, reachability, MODEL_PATH); exits 1 if anything fails')
    .action(async () => {
      const g = globals();
      const results = await runChecks({ file: g.config });
      const failed = results.some((r) => r.status === 'fail');
      print(!!g.json, { ok: !failed, checks: results }, () => table(results.map((r) => [MARK[r.status], r.name, r.detail])));
      if (failed) process.exitCode = 1;
    });
}
