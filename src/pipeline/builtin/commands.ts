import type { QueueStats } from '../../queue/types.js';
import type { PipelineRegistry } from '../registry.js';
import type { Command, Disposer, Responder } from '../types.js';

const COMMAND_PATTERN = /^\/([A-Za-z][\w-]*)(?:@\S+)?(?:\s+([\s\S]*))?$/;

/** Answers "/name args" messages from the registry's commands; lets other text through. */
export function commandsResponder(registry: PipelineRegistry): Responder {
  return {
    name: 'commands',
    order: 0,
    async respond(ctx) {
      const match = COMMAND_PATTERN.exec(ctx.message.text.trim());
      if (!match) return undefined;
      const name = (match[1] as string).toLowerCase();
      const command = registry.commands.get(name);
      if (!command) return { text: `Unknown command /${name}. Send /help to see what I can do.` };
      const result = await command.run({ ...ctx, args: (match[2] ?? '').trim() });
      return typeof result === 'string' ? { text: result } : result;
    },
  };
}

export interface BuiltinCommandDeps {
  botName: string;
  version: string;
  startedAt: number;
  stats(): Promise<QueueStats>;
}

export function builtinCommands(registry: PipelineRegistry, deps: BuiltinCommandDeps): Command[] {
  return [
    {
      name: 'help',
      description: 'list the commands I understand',
      run: () => {
        const lines = [...registry.commands.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((c) => `/${c.name}${c.usage ? ` ${c.usage}` : ''} - ${c.description}`);
        return `${deps.botName} ${deps.version}. Commands:\n${lines.join('\n')}`;
      },
    },
    { name: 'ping', description: 'check that I am alive', run: () => 'pong' },
    {
      name: 'echo',
      description: 'repeat your text',
      usage: '<text>',
      run: ({ args }) => (args ? args : 'Usage: /echo <text>'),
    },
    {
      name: 'stats',
      description: 'queue and uptime figures',
      run: async () => {
        const s = await deps.stats();
        const uptime = Math.round((Date.now() - deps.startedAt) / 1000);
        return {
          text:
            `Up ${uptime} s. Queue: ${s.depth} waiting or in progress (limit ${s.limit}), ` +
            `${s.byState.processing} processing, ${s.byState.failed} awaiting retry, ${s.byState.dead} dead; ` +
            `${s.completed} answered since start.`,
          data: { uptimeSeconds: uptime, depth: s.depth, limit: s.limit, processing: s.byState.processing, dead: s.byState.dead, completed: s.completed },
        };
      },
    },
  ];
}

/** Registers the built-in responder and commands; returns one disposer for all of it. */
export function registerBuiltinCommands(registry: PipelineRegistry, deps: BuiltinCommandDeps): Disposer {
  const disposers = [registry.addResponder(commandsResponder(registry)), ...builtinCommands(registry, deps).map((c) => registry.addCommand(c))];
  return () => disposers.reverse().forEach((dispose) => dispose());
}
