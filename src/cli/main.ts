#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError, PincerError, errorMessage } from '../errors.js';
import { PINCER_VERSION } from '../version.js';
import type { ClientOptions } from './client.js';
import { approvalsCommand } from './commands/approvals.js';
import { kbCommand } from './commands/kb.js';
import { benchCommand } from './commands/bench.js';
import { channelsCommand } from './commands/channels.js';
import { chatCommand } from './commands/chat.js';
import { doctorCommand } from './commands/doctor.js';
import { initCommand } from './commands/init.js';
import { modelServeCommand } from './commands/model-serve.js';
import { modelsCommand } from './commands/models.js';
import { pluginCommand } from './commands/plugin.js';
import { queueCommand } from './commands/queue.js';
import { sendCommand } from './commands/send.js';
import { startCommand } from './commands/start.js';
import { upstreamCheckCommand } from './commands/upstream-check.js';

const program = new Command('pincer')
  .description('Pincer: a durable, fast, extensible chat bot server')
  .version(PINCER_VERSION)
  .option('--config <file>', 'config file (default: pincer.config.yaml|yml|json in the current folder)')
  .option('--url <url>', 'server to talk to (default: PINCER_URL, else the config host and port)')
  .option('--token <token>', 'bearer token (default: PINCER_TOKEN, else the first token in the config)')
  .option('--json', 'print JSON for scripts')
  .showHelpAfterError();

const globals = () => program.opts<ClientOptions & { json?: boolean }>();

program
  .command('start')
  .description('run the bot: HTTP API, queue and workers, in the foreground')
  .action(() => startCommand({ config: globals().config }));
sendCommand(program, globals);
chatCommand(program, globals);
queueCommand(program, globals);
channelsCommand(program, globals);
approvalsCommand(program, globals);
kbCommand(program, globals);
pluginCommand(program, globals);
modelsCommand(program, globals);
modelServeCommand(program, globals);
initCommand(program, globals);
doctorCommand(program, globals);
upstreamCheckCommand(program);
benchCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`pincer: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  const code = err instanceof PincerError ? `${err.code}: ` : '';
  console.error(`pincer: ${code}${errorMessage(err)}`);
  process.exit(1);
});
