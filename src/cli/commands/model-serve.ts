import type { Command } from 'commander';
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig } from '../../config/load.js';
import { PincerError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';
import { startModelService } from '../../model-service/service.js';
import { PINCER_VERSION } from '../../version.js';
import type { ClientOptions } from '../client.js';

/** `pincer model serve`: the local models as an OpenAI-compatible service (S2.3). */
export function modelServeCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  program
    .command('model')
    .description('the model service')
    .command('serve')
    .description('serve the local models (built-in, and MODEL_PATH\'s GGUF file) over an OpenAI-compatible API, for bot nodes to reach with provider openai-compatible')
    .option('--host <host>', 'address to listen on (default: model_service.host, 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: model_service.port, 7701)', (v) => {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PincerError('CLI_USAGE', `--port ${v}: expected a port number 0-65535`);
      return port;
    })
    .action(async (options: { host?: string; port?: number }) => {
      const { config } = loadConfig({ file: globals().config });
      const logger = createLogger({ level: config.log.level });
      const service = await startModelService({
        config,
        env: process.env,
        log: logger.logger as unknown as FastifyBaseLogger,
        version: PINCER_VERSION,
        ...(options.host !== undefined && { host: options.host }),
        ...(options.port !== undefined && { port: options.port }),
      });
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) process.exit(1);
        stopping = true;
        logger.logger.info({ signal }, `received ${signal}, closing the model service`);
        void service.close().then(() => {
          logger.flush();
          process.exit(0);
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
