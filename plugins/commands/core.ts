import type { CommandInfo, QueueStatsView } from 'pincer/plugin';
import type { StatsFigures } from './models.js';

export function helpText(botName: string, version: string, commands: readonly CommandInfo[]): string {
  const lines = [...commands]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => `/${c.name}${c.usage ? ` ${c.usage}` : ''} - ${c.description}`);
  return `${botName} ${version}. Commands:\n${lines.join('\n')}`;
}

export function echoText(args: string, maxLength: number): string {
  if (!args) return 'Usage: /echo <text>';
  return args.length > maxLength ? `${args.slice(0, maxLength)}…` : args;
}

export function statsFigures(stats: QueueStatsView, startedAt: number, now: number): StatsFigures {
  return {
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    depth: stats.depth,
    limit: stats.limit,
    processing: stats.byState.processing,
    failed: stats.byState.failed,
    dead: stats.byState.dead,
    completed: stats.completed,
  };
}

export function statsText(f: StatsFigures): string {
  return (
    `Up ${f.uptimeSeconds} s. Queue: ${f.depth} waiting or in progress (limit ${f.limit}), ` +
    `${f.processing} processing, ${f.failed} awaiting retry, ${f.dead} dead; ` +
    `${f.completed} answered since start.`
  );
}
