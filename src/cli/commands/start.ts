import { Pincer } from '../../pincer.js';

/**
 * Run the server in the foreground. SIGTERM/SIGINT stop it gracefully (in-flight messages
 * finish up to workers.shutdown_timeout, the rest are released for re-delivery); a second
 * signal exits at once: what was in flight is re-delivered on the next start, as an attempt
 * (a message on its last attempt is dead-lettered then, like any message that crashes a worker).
 */
export async function startCommand(options: { config?: string }): Promise<void> {
  const pincer = await Pincer.create({ load: { file: options.config } });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      pincer.log.warn({ signal }, 'second signal: exiting now; unfinished messages will be re-delivered on the next start');
      process.exit(1);
    }
    stopping = true;
    pincer.log.info({ signal }, `received ${signal}, shutting down gracefully`);
    void pincer.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('unhandledRejection', (reason) => {
    // A stray rejection in some callback must not take down a bot that is otherwise healthy.
    pincer.log.error({ err: reason }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    pincer.log.fatal({ err }, 'uncaught exception: shutting down; queued messages are safe on disk');
    void pincer.close().finally(() => process.exit(1));
  });
  await pincer.start();
}
