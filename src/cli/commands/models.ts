import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { isErrorCode } from '../../errors.js';
import type { DeploymentStats } from '../../models/router.js';
import { buildModelLayer, type DeploymentCheck, type DeploymentView } from '../../models/setup.js';
import { PINCER_VERSION } from '../../version.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';

type Row = DeploymentView & Partial<DeploymentStats>;

export function modelsCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  const models = program.command('models').description('the model deployments answering free text');

  models
    .command('list')
    .description('deployments with provider, model, priority, usage and health (from the config if Pincer is not running)')
    .action(async () => {
      const g = globals();
      let rows: Row[];
      let running = true;
      try {
        rows = (await ApiClient.from(g).call<{ deployments: Row[] }>('GET', '/v1/admin/models')).body.deployments;
      } catch (err) {
        if (!isErrorCode(err, 'CLI_UNREACHABLE')) throw err;
        running = false;
        const layer = buildModelLayer(loadConfig({ file: g.config }).config, process.env, PINCER_VERSION);
        rows = layer.deployments;
        await layer.close();
      }
      print(!!g.json, { running, deployments: rows }, () =>
        (running ? '' : 'Pincer is not running: deployments as the configuration defines them.\n') +
        table([
          ['ID', 'PROVIDER', 'MODEL', 'PRIORITY', 'WEIGHT', 'SOURCE', 'CALLS', 'FAILURES', 'COOLING DOWN', 'TOKENS IN/OUT'],
          ...rows.map((r) => [
            r.id, r.provider, r.model, String(r.priority), String(r.weight), r.source,
            String(r.calls ?? '-'), String(r.failures ?? '-'),
            r.coolingDownUntil ? new Date(r.coolingDownUntil).toISOString() : '-',
            r.usage ? `${r.usage.inputTokens}/${r.usage.outputTokens}` : '-',
          ]),
        ]),
      );
    });

  models
    .command('test')
    .description('ask each deployment (or one) for a tiny reply; exit 1 if any fails')
    .argument('[deployment]', 'a deployment id from `pincer models list`')
    .action(async (deployment: string | undefined) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ results: DeploymentCheck[] }>('POST', '/v1/admin/models/test', deployment ? { deployment } : {});
      print(!!g.json, body, () =>
        table([['ID', 'RESULT', 'MS', 'DETAILS'], ...body.results.map((r) => [r.id, r.ok ? 'ok' : 'FAIL', String(r.ms), r.ok ? (r.reply ?? '') : `${r.error?.code}: ${r.error?.message}`])]),
      );
      if (body.results.some((r) => !r.ok)) process.exitCode = 1;
    });
}
