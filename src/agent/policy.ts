/**
 * Who may use which tool (`tools:` in the config file). Three levels: the global rules, the
 * message's channel, and its sender as the channel identifies them (`<channel>:<sender id>`,
 * never anything the message text says). A tool is offered when every level present lets it
 * through: a narrower level can only take tools away. A tool waits for approval when it
 * declares `approval: "always"` or any level's `approval` globs name it.
 */
import type { ToolsConfig } from '../config/tools-schema.js';
import type { Tool } from '../pipeline/types.js';

interface Level {
  allow?: RegExp[];
  deny: RegExp[];
  approval: RegExp[];
}

/** Whom a message comes from, as its channel says. */
export interface Caller {
  channel: string;
  sender?: string | null;
}

function compile(pattern: string): RegExp {
  const body = pattern.replace(/[*?]|[^*?]+/g, (part) => (part === '*' ? '.*' : part === '?' ? '.' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${body}$`);
}

function level(rules: { allow?: string[] | undefined; deny: string[]; approval: string[] }): Level {
  return {
    ...(rules.allow !== undefined && { allow: rules.allow.map(compile) }),
    deny: rules.deny.map(compile),
    approval: rules.approval.map(compile),
  };
}

const matches = (patterns: readonly RegExp[], name: string) => patterns.some((p) => p.test(name));

export class ToolPolicy {
  private readonly global: Level;
  private readonly channels: Map<string, Level>;
  private readonly senders: Map<string, Level>;
  private readonly approvers: ReadonlySet<string>;
  readonly approvalTimeoutMs: number;

  constructor(config: ToolsConfig) {
    this.global = level(config);
    this.channels = new Map(Object.entries(config.channels).map(([name, rules]) => [name, level(rules)]));
    this.senders = new Map(Object.entries(config.senders).map(([who, rules]) => [who, level(rules)]));
    this.approvers = new Set(config.approvers);
    this.approvalTimeoutMs = config.approval_timeout;
  }

  /** Everything allowed: the policy a bot without a `tools:` section has. */
  static open(): ToolPolicy {
    return new ToolPolicy({ allow: ['*'], deny: [], approval: [], channels: {}, senders: {}, approvers: [], approval_timeout: 86_400_000 });
  }

  private levels(caller: Caller): Level[] {
    const found = [this.global];
    const channel = this.channels.get(caller.channel);
    if (channel) found.push(channel);
    const sender = caller.sender ? this.senders.get(`${caller.channel}:${caller.sender}`) : undefined;
    if (sender) found.push(sender);
    return found;
  }

  /** The tools this caller's model is offered. */
  offered(tools: ReadonlyMap<string, Tool>, caller: Caller): Map<string, Tool> {
    const levels = this.levels(caller);
    const offered = new Map<string, Tool>();
    for (const [name, tool] of tools) {
      if (levels.every((l) => (l.allow === undefined || matches(l.allow, name)) && !matches(l.deny, name))) offered.set(name, tool);
    }
    return offered;
  }

  needsApproval(tool: Pick<Tool, 'name' | 'approval'>, caller: Caller): boolean {
    return tool.approval === 'always' || this.levels(caller).some((l) => matches(l.approval, tool.name));
  }

  /** Whether this sender may decide approvals from a chat (`/approve`, `/deny`). */
  mayApprove(caller: Caller): boolean {
    return caller.sender != null && this.approvers.has(`${caller.channel}:${caller.sender}`);
  }
}
