/**
 * The bot's commands as Discord global slash commands, one bulk overwrite
 * (`PUT /applications/{id}/commands`) when they differ from what Discord has.
 *
 * Discord allows 200 command creates a day per application (a bulk overwrite that only
 * repeats existing commands creates none), so the list is read first (`GET`) and written
 * only when it changed: a connect with the same commands makes no write at all, and a
 * loop that reconnects all day cannot use up the creates.
 */
import { ApplicationCommandOptionType, ApplicationCommandType, type RESTPutAPIApplicationCommandsJSONBody } from 'discord-api-types/v10';
import type { REST } from '@discordjs/rest';
import type { CommandInfo, PluginLogger } from 'pincer/plugin';

/** Discord's rule for command and option names; letters with a lowercase form must be lowercase. */
const NAME = /^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const MAX_DESCRIPTION = 100;
/** Global chat-input commands per application. */
const MAX_COMMANDS = 100;

export interface SlashCommand {
  name: string;
  description: string;
  options: Array<{ type: number; name: string; description: string; required: boolean }>;
}

function cut(text: string, limit: number): string {
  const chars = [...text.trim()];
  return chars.length <= limit ? chars.join('') : `${chars.slice(0, limit - 1).join('')}…`;
}

export function validName(name: string): boolean {
  return NAME.test(name) && name === name.toLowerCase();
}

/** The commands Discord would take, and the names it would not (logged by the caller). */
export function slashCommands(commands: readonly CommandInfo[]): { commands: SlashCommand[]; skipped: string[] } {
  const out: SlashCommand[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const command of commands) {
    if (!validName(command.name) || seen.has(command.name) || out.length >= MAX_COMMANDS) {
      skipped.push(command.name);
      continue;
    }
    seen.add(command.name);
    out.push({
      name: command.name,
      description: cut(command.description, MAX_DESCRIPTION) || command.name,
      // One optional string for whatever follows the name: Pincer's commands parse their own text.
      options: [{ type: ApplicationCommandOptionType.String, name: 'text', description: cut(command.usage ?? '', MAX_DESCRIPTION) || 'what follows the command', required: false }],
    });
  }
  return { commands: out.sort((a, b) => a.name.localeCompare(b.name)), skipped };
}

interface RemoteCommand {
  name?: unknown;
  description?: unknown;
  type?: unknown;
  options?: Array<{ type?: unknown; name?: unknown; description?: unknown; required?: unknown }>;
}

/** The fields Pincer sets, in a fixed order: equal keys mean equal commands. */
function keyOf(commands: readonly RemoteCommand[]): string {
  const normal = commands
    .filter((c) => (c.type ?? ApplicationCommandType.ChatInput) === ApplicationCommandType.ChatInput)
    .map((c) => ({
      name: String(c.name),
      description: String(c.description),
      options: (c.options ?? []).map((o) => ({ type: Number(o.type), name: String(o.name), description: String(o.description), required: o.required === true })),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return JSON.stringify(normal);
}

/** Equal for two command lists that make the same slash commands. */
export function commandsKey(commands: readonly CommandInfo[]): string {
  return keyOf(slashCommands(commands).commands);
}

export interface RegisterResult {
  written: boolean;
  count: number;
  skipped: string[];
}

/** Make the application's global commands these, with a write only when they differ. */
export async function registerCommands(rest: REST, applicationId: string, commands: readonly CommandInfo[], log: PluginLogger, account: string, signal?: AbortSignal): Promise<RegisterResult> {
  const wanted = slashCommands(commands);
  if (wanted.skipped.length > 0) {
    log.warn('discord slash commands left off: a name must be 1-32 lowercase letters, digits, "-" or "_" (at most 100 commands)', { account, names: wanted.skipped });
  }
  const current = (await rest.get(`/applications/${applicationId}/commands`, signal ? { signal } : {})) as RemoteCommand[];
  if (keyOf(current) === keyOf(wanted.commands)) return { written: false, count: wanted.commands.length, skipped: wanted.skipped };
  const body: RESTPutAPIApplicationCommandsJSONBody = wanted.commands.map((c) => ({ type: ApplicationCommandType.ChatInput, ...c }));
  await rest.put(`/applications/${applicationId}/commands`, { body, ...(signal ? { signal } : {}) });
  log.info('discord slash commands registered', { account, count: wanted.commands.length });
  return { written: true, count: wanted.commands.length, skipped: wanted.skipped };
}
