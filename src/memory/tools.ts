import { PincerError } from '../errors.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { Command, Tool, ToolContext } from '../pipeline/types.js';
import type { MemoryHit, SenderKey } from '../store/types.js';
import { senderKey } from './facts.js';
import type { MemoryService } from './service.js';

/**
 * The memory tools the model is offered (core tools: registered by Pincer itself, gone with
 * its wiring) and the /remember and /forget commands. Facts belong to the sender of the
 * message being answered, as the store recorded it; a tool's arguments never name whose.
 */
export function memoryTools(memory: MemoryService): Tool[] {
  const limit = memory.config.max_search_limit;
  return [
    {
      name: 'memory_search',
      description:
        'Search the older turns of this conversation (beyond the recent messages you can see) for words. Returns the best matching turns with when they were said and by whom. Use it when the user refers to something said earlier that you cannot see.',
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string', description: 'the words to look for', minLength: 1, maxLength: 500 },
          limit: { type: 'integer', description: `how many turns at most (default ${memory.config.search_limit})`, minimum: 1, maximum: limit },
        },
        required: ['query'],
        additionalProperties: false,
      },
      effect: 'read',
      idempotent: true,
      execute: (args, ctx) =>
        coded(async () => {
          if (!ctx.conversationId) throw new PincerError('MEMORY_QUERY_INVALID', 'there is no conversation to search');
          const hits = await memory.search(ctx.conversationId, String(args.query), typeof args.limit === 'number' ? args.limit : undefined);
          return { results: hits.map(hitJson) };
        }),
    },
    {
      name: 'memory_save',
      description:
        'Remember a fact about the person you are talking to (a preference, a name, a detail they asked you to keep). Saved facts are shown to you in later conversations with them. Save one short fact per call.',
      parameters: {
        type: 'object',
        properties: { fact: { type: 'string', description: 'the fact, in one sentence', minLength: 1, maxLength: memory.config.max_fact_length } },
        required: ['fact'],
        additionalProperties: false,
      },
      effect: 'write',
      idempotent: true,
      execute: (args, ctx) =>
        coded(async () => {
          const { fact, added } = await memory.remember(keyOf(ctx), String(args.fact));
          return { saved: added, alreadyKnown: !added, id: fact.id, fact: fact.text };
        }),
    },
    {
      name: 'memory_forget',
      description: 'Forget facts saved about the person you are talking to: the facts containing some words, one fact by its id, or "all".',
      parameters: {
        type: 'object',
        properties: { what: { type: 'string', description: 'words of the fact, its id, or "all"', minLength: 1, maxLength: 500 } },
        required: ['what'],
        additionalProperties: false,
      },
      effect: 'write',
      idempotent: true,
      execute: (args, ctx) => coded(async () => ({ forgotten: await memory.forget(keyOf(ctx), String(args.what)) })),
    },
  ];
}

export function memoryCommands(memory: MemoryService): Command[] {
  return [
    {
      name: 'remember',
      description: 'keep a fact about you for later conversations',
      usage: '<fact>',
      run: async ({ message, args }) => {
        try {
          if (!args) return await listFacts(memory, senderKey(message));
          const { added } = await memory.remember(senderKey(message), args);
          return added ? `I will remember that. (${memory.config.max_facts} facts at most; /forget <words> or /forget all)` : 'I knew that already.';
        } catch (err) {
          return refusal(err);
        }
      },
    },
    {
      name: 'forget',
      description: 'forget facts you asked me to remember',
      usage: '<words|all>',
      run: async ({ message, args }) => {
        if (!args) return 'Say what to forget: /forget <words of the fact>, or /forget all.';
        try {
          const n = await memory.forget(senderKey(message), args);
          return n === 0 ? 'I had nothing like that remembered.' : `Forgotten (${n} fact${n === 1 ? '' : 's'}).`;
        } catch (err) {
          return refusal(err);
        }
      },
    },
  ];
}

async function listFacts(memory: MemoryService, key: SenderKey): Promise<string> {
  const facts = await memory.facts(key);
  return facts.length === 0 ? 'I remember nothing about you yet. Send /remember <fact>.' : `What I remember about you:\n${facts.map((f) => `- ${f.text}`).join('\n')}`;
}

function keyOf(ctx: ToolContext): SenderKey {
  return senderKey({ channel: ctx.channel ?? '', sender: ctx.sender ?? null });
}

function hitJson(hit: MemoryHit): JsonObject {
  return { when: new Date(hit.at).toISOString(), sender: hit.sender, channel: hit.channel, said: hit.text, reply: hit.reply };
}

/** A coded refusal is a result the model can read and act on (`error.code`), not a failed call. */
async function coded(run: () => Promise<JsonValue>): Promise<JsonValue> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof PincerError) return { error: { code: err.code, message: err.message } };
    throw err;
  }
}

/** A coded refusal as the command's answer; anything else is a failure of the command. */
function refusal(err: unknown): string {
  if (err instanceof PincerError) return `${err.message} (${err.code})`;
  throw err;
}
