import { z } from 'zod';
import { durationSchema } from './duration-schema.js';

/** A tool-name glob: letters, digits, "_", "-", with "*" (any run) and "?" (one character). */
const glob = z.string().regex(/^[A-Za-z0-9_*?-]{1,64}$/, 'expected a tool name or a glob of one ("*" any run, "?" one character)');

/** One level's rules: global, a channel's, or a sender's. Narrower levels only take away. */
const rules = {
  /** Tools offered at this level; unset on a channel or sender: no narrowing. */
  allow: z.array(glob).optional(),
  deny: z.array(glob).default([]),
  /** Tools whose every call waits for a person's approval here, besides those declaring `approval: "always"`. */
  approval: z.array(glob).default([]),
};

const levelSchema = z.object(rules).strict();

/**
 * `tools:`: which tools the model is offered, for whom, and which wait for approval
 * (src/agent/policy.ts). Senders are `<channel>:<sender id>` as the channel identifies them,
 * never anything a message says.
 */
export const toolsSchema = z
  .object({
    ...rules,
    allow: z.array(glob).default(['*']),
    channels: z.record(z.string().min(1), levelSchema).default({}),
    senders: z.record(z.string().regex(/^[^:\s]+:\S+$/, 'expected "<channel>:<sender id>"'), levelSchema).default({}),
    /** Who may answer an approval by writing `/approve <id>` or `/deny <id>` (`<channel>:<sender id>`). */
    approvers: z.array(z.string().regex(/^[^:\s]+:\S+$/, 'expected "<channel>:<sender id>"')).default([]),
    /** An approval nobody answers in this time is denied. */
    approval_timeout: durationSchema('24h'),
  })
  .strict()
  .prefault({});

export type ToolsConfig = z.output<typeof toolsSchema>;
