/**
 * Gateway INTERACTION_CREATE as Pincer's inbound events: a press on one of the bot's buttons
 * (MESSAGE_COMPONENT) is an `action` whose id is the button's custom_id, a slash command
 * (APPLICATION_COMMAND, chat input) is a `command` with the text `/name args`. The event id
 * is the interaction's id, the dedupe key of a replay.
 *
 * A slash command has no message to reply to: its answer replaces the deferred "thinking…"
 * response, which only the interaction's token can edit (for 15 minutes). The token travels
 * to the outbox in the event's message id, `i:<interaction id>:<token>`, which core keeps as
 * the reply target; ids are at most 256 characters, so a token too long for that stays in this
 * process's memory instead (`i:<interaction id>`), and without it the answer is a channel message.
 */
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ComponentType,
  InteractionResponseType,
  InteractionType,
  type APIInteraction,
  type APIUser,
} from 'discord-api-types/v10';
import type { REST } from '@discordjs/rest';
import type { InboundEvent, JsonValue } from 'pincer/plugin';
import type { BotUser } from './parse.js';

/** Discord's epoch (2015-01-01) in Unix milliseconds: a snowflake's top bits count from it. */
const DISCORD_EPOCH = 1_420_070_400_000n;
/** Discord waits this long for the first answer to an interaction. */
export const ACK_WINDOW_MS = 3_000;
/** An interaction's token works this long after the interaction. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** The inbound schema's limit for ids. */
const MAX_ID = 256;
const PREFIX = 'i:';

export function snowflakeTime(id: string): number | undefined {
  if (!/^\d{1,20}$/.test(id)) return undefined;
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

/** Tokens whose reply reference would not fit in an id: kept here while they work. */
const tokens = new Map<string, { token: string; until: number }>();

function remember(id: string, token: string, now: number): void {
  for (const [key, entry] of tokens) if (entry.until <= now) tokens.delete(key);
  tokens.set(id, { token, until: now + TOKEN_LIFETIME_MS });
}

export interface InteractionRef {
  id: string;
  token: string | undefined;
}

export function interactionRef(id: string, token: string, now = Date.now()): string {
  const full = `${PREFIX}${id}:${token}`;
  if (full.length <= MAX_ID) return full;
  remember(id, token, now);
  return `${PREFIX}${id}`;
}

/** The interaction a reply target names, if it names one (message ids are bare snowflakes). */
export function parseInteractionRef(replyTo: string | undefined, now = Date.now()): InteractionRef | undefined {
  if (replyTo === undefined || !replyTo.startsWith(PREFIX)) return undefined;
  const rest = replyTo.slice(PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon < 0) {
    const kept = tokens.get(rest);
    return { id: rest, token: kept !== undefined && kept.until > now ? kept.token : undefined };
  }
  return { id: rest.slice(0, colon), token: rest.slice(colon + 1) };
}

/**
 * Whether the interaction's token still works for a call starting now. The margin covers the
 * call itself and a clock a little off Discord's; past it the reply is a channel message.
 */
export function tokenUsable(ref: InteractionRef, now = Date.now(), marginMs = 30_000): boolean {
  const at = snowflakeTime(ref.id);
  return ref.token !== undefined && at !== undefined && now - at < TOKEN_LIFETIME_MS - marginMs;
}

function userOf(interaction: APIInteraction): APIUser | undefined {
  return interaction.member?.user ?? interaction.user;
}

function rawOf(interaction: APIInteraction, channelId: string, user: APIUser): JsonValue {
  // Never the token: the raw payload is kept with the message for debugging.
  const data = interaction.data as { name?: unknown; custom_id?: unknown } | undefined;
  return {
    id: interaction.id,
    type: interaction.type,
    channel_id: channelId,
    ...(interaction.guild_id !== undefined ? { guild_id: interaction.guild_id } : {}),
    user: { id: user.id, username: user.username },
    ...(typeof data?.name === 'string' ? { name: data.name } : {}),
    ...(typeof data?.custom_id === 'string' ? { custom_id: data.custom_id } : {}),
    ...(interaction.message !== undefined ? { message_id: interaction.message.id } : {}),
  };
}

/** What to answer Discord once the event is committed. */
export interface PendingAck {
  id: string;
  token: string;
  type: InteractionResponseType.DeferredChannelMessageWithSource | InteractionResponseType.DeferredMessageUpdate;
}

export interface ParsedInteraction {
  event: InboundEvent;
  ack: PendingAck;
}

/** A button press or a slash command; anything else (autocomplete, modals, context menus) is not taken. */
export function parseInteraction(interaction: APIInteraction, bot: BotUser, now = Date.now()): ParsedInteraction | undefined {
  const user = userOf(interaction);
  const channelId = interaction.channel?.id ?? interaction.channel_id;
  if (user === undefined || channelId === undefined) return undefined;
  const base = {
    eventId: interaction.id,
    conversation: interaction.guild_id === undefined ? { kind: 'direct' as const, id: channelId } : { kind: 'group' as const, id: channelId },
    sender: { id: user.id, ...(user.global_name ? { name: user.global_name } : {}), username: user.username, isBot: user.bot === true },
    // Only a message of this bot has its buttons, and a slash command is the bot's own.
    mentions: { bot: true },
    timestamp: snowflakeTime(interaction.id) ?? now,
    raw: rawOf(interaction, channelId, user),
  };
  if (interaction.type === InteractionType.MessageComponent) {
    if (interaction.data.component_type !== ComponentType.Button) return undefined;
    const event: InboundEvent = {
      ...base,
      // The press answers the message that had the buttons: the reply is a reply to it.
      messageId: interaction.message.id,
      kind: 'action',
      text: '',
      action: { id: interaction.data.custom_id },
    };
    if (interaction.message.author.id === bot.id) event.replyTo = { messageId: interaction.message.id, senderId: bot.id, isBot: true };
    return { event, ack: { id: interaction.id, token: interaction.token, type: InteractionResponseType.DeferredMessageUpdate } };
  }
  if (interaction.type === InteractionType.ApplicationCommand && interaction.data.type === ApplicationCommandType.ChatInput) {
    const option = interaction.data.options?.find((o) => o.name === 'text' && o.type === ApplicationCommandOptionType.String);
    const args = option !== undefined && 'value' in option && typeof option.value === 'string' ? option.value.trim() : '';
    const event: InboundEvent = {
      ...base,
      messageId: interactionRef(interaction.id, interaction.token, now),
      kind: 'command',
      text: args === '' ? `/${interaction.data.name}` : `/${interaction.data.name} ${args}`,
    };
    return { event, ack: { id: interaction.id, token: interaction.token, type: InteractionResponseType.DeferredChannelMessageWithSource } };
  }
  return undefined;
}

/** The first answer: no Authorization (the token in the path is the credential). */
export async function acknowledge(rest: REST, ack: PendingAck, signal?: AbortSignal): Promise<void> {
  await rest.post(`/interactions/${ack.id}/${ack.token}/callback`, { body: { type: ack.type }, auth: false, ...(signal ? { signal } : {}) });
}
