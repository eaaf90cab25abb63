import type { Command } from 'commander';
import { UpstreamHealth } from '../../cluster/upstream-health.js';
import { parseDuration } from '../../config/duration.js';
import { PincerError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';

/** `pincer upstream-check`: S2.5's active /health checks for an nginx in front of the nodes. */
export function upstreamCheckCommand(program: Command): void {
  program
    .command('upstream-check')
    .description("probe each node's /health and keep an nginx upstream block up to date (down after --fall failures, up after --rise passes), reloading nginx on a change")
    .requiredOption('--nodes <list>', 'comma-separated host:port of the nodes')
    .requiredOption('--file <path>', 'the upstream block nginx.conf includes, e.g. /etc/nginx/conf.d/pincer-upstream.conf')
    .option('--name <name>', 'the upstream name', 'pincer')
    .option('--interval <duration>', 'time between probes', '10s')
    .option('--timeout <duration>', 'how long one probe may take', '2s')
    .option('--fall <n>', 'failed probes in a row before a node is down', '3')
    .option('--rise <n>', 'passed probes in a row before a node is up again', '2')
    .option('--reload <command>', 'command that reloads nginx', 'nginx -s reload')
    .action(async (options: { nodes: string; file: string; name: string; interval: string; timeout: string; fall: string; rise: string; reload: string }) => {
      const count = (flag: string, value: string) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) throw new PincerError('CLI_USAGE', `--${flag} ${value}: expected a whole number of probes, at least 1`);
        return n;
      };
      const duration = (flag: string, value: string) => {
        const ms = parseDuration(value);
        if (ms === undefined || ms <= 0) throw new PincerError('CLI_USAGE', `--${flag} ${value}: expected a duration such as 10s or 500ms`);
        return ms;
      };
      const nodes = options.nodes.split(',').map((n) => n.trim()).filter(Boolean);
      if (nodes.length === 0) throw new PincerError('CLI_USAGE', '--nodes: name at least one host:port');
      for (const node of nodes) if (!/^[\w.-]+:\d+$/.test(node)) throw new PincerError('CLI_USAGE', `--nodes: "${node}" is not host:port`);
      const logger = createLogger({ level: 'info' });
      const health = new UpstreamHealth({
        nodes,
        file: options.file,
        name: options.name,
        intervalMs: duration('interval', options.interval),
        timeoutMs: duration('timeout', options.timeout),
        fall: count('fall', options.fall),
        rise: count('rise', options.rise),
        reload: options.reload.split(/\s+/).filter(Boolean),
        log: logger.logger,
      });
      await health.start();
      logger.logger.info({ event: 'upstream.started', nodes, file: options.file }, `checking ${nodes.length} node(s) every ${options.interval}`);
      const stop = () => void health.stop().then(() => {
        logger.flush();
        process.exit(0);
      });
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
