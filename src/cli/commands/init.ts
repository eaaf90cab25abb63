import path from 'node:path';
import type { Command } from 'commander';
import { scaffoldProject } from '../../scaffold/project-template.js';
import { PINCER_ROOT, PINCER_VERSION } from '../../version.js';
import type { ClientOptions } from '../client.js';
import { print } from '../output.js';

export function initCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  program
    .command('init')
    .description('create a new bot project that uses Pincer, with one local plugin')
    .argument('<dir>', 'folder to create (must not exist or be empty)')
    .option('-n, --name <name>', 'the bot\'s name')
    .action((dir: string, opts: { name?: string }) => {
      const target = path.resolve(dir);
      // Pincer is not on the npm registry yet, so the project depends on this installation.
      const result = scaffoldProject({ dir: target, ...(opts.name ? { name: opts.name } : {}), pincerVersion: PINCER_VERSION, pincerDependency: `file:${PINCER_ROOT}` });
      const rel = path.relative(process.cwd(), target) || '.';
      print(!!globals().json, result, () => [`created a Pincer bot in ${target}`, '', 'next:', `  cd ${rel}`, '  npm install', '  npm start'].join('\n'));
    });
}
