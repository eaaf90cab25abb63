import type { Logger } from 'pino';
import type { AgentProgress } from '../events/types.js';
import type { CallOutcome, ChannelMethod } from '../plugins/protocol.js';
import type { ChannelAccount, ChannelCapabilities, ChannelTarget, DeliveryPlan, PlanExtras, ReconcileResult, RenderedPart, WebhookRequest, WebhookVerdict } from '../plugins/sdk.js';
import type { JsonObject, JsonValue, MessageRecord, Reply } from '../store/types.js';

/**
 * The contracts plugins and model providers register into. A message passes through every
 * analyzer (their results are stored on it under the analyzer's name), the before-hooks,
 * the first responder that answers, then the after-hooks.
 */

export interface StageContext {
  readonly message: Readonly<MessageRecord>;
  /** Results of the analyzers that already ran, by analyzer name. */
  readonly analysis: Readonly<JsonObject>;
  /** Aborted when the stage times out or the worker shuts down. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export interface ResponderContext extends StageContext {
  /** Stream part of the reply to clients watching the message (SSE). */
  stream(delta: string): void;
  /** Tell clients watching the message how a tool loop goes (SSE `step` and `tool`). */
  progress?(event: AgentProgress): void;
  /** The worker's lease on the message: what a responder writes to the store is fenced by it. */
  readonly lease?: number;
}

/** Set on registrations made by a plugin: which one. */
interface Owned {
  readonly plugin?: string;
}

export interface Analyzer extends Owned {
  readonly name: string;
  analyze(ctx: StageContext): Promise<JsonValue | undefined> | JsonValue | undefined;
}

/** What a responder answers with; `responder` is filled in by the pipeline. */
export type ResponderReply = Omit<Reply, 'responder'> & { responder?: string };

export interface Responder extends Owned {
  readonly name: string;
  /** Lower runs first. Commands run at 0, model responders at 100, the fallback last. */
  readonly order?: number;
  /** Return a reply, or undefined to let the next responder try. */
  respond(ctx: ResponderContext): Promise<ResponderReply | undefined> | ResponderReply | undefined;
}

export interface Hooks extends Owned {
  readonly name: string;
  before?(ctx: StageContext): Promise<void> | void;
  after?(ctx: StageContext, reply: Reply): Promise<void> | void;
}

export interface CommandContext extends StageContext {
  /** The text after the command name, trimmed. */
  readonly args: string;
}

export interface Command extends Owned {
  /** Without the slash: "ping" answers "/ping". */
  readonly name: string;
  readonly description: string;
  /** Shown by /help, e.g. "<text>". */
  readonly usage?: string;
  run(ctx: CommandContext): Promise<string | ResponderReply> | string | ResponderReply;
}

export interface ToolContext {
  readonly signal: AbortSignal;
  /** Which message and attempt the call serves, so a tool with side effects can be idempotent. */
  readonly messageId?: string;
  readonly attempt?: number;
  readonly toolCallId?: string;
  /** `<message id>:<step>:<call>`, the same when the message is delivered again. */
  readonly idempotencyKey?: string;
  readonly conversationId?: string;
  readonly sender?: string;
  readonly channel?: string;
  /** The sender's IANA time zone, when its channel knows it (the web chat's browser); already checked. */
  readonly senderTimeZone?: string;
}

/** A function the bot's model may call; `parameters` is a JSON Schema for its arguments. */
export interface Tool extends Owned {
  readonly name: string;
  readonly description: string;
  readonly parameters: JsonObject;
  /** "read": no side effects; "write": changes something outside the bot (never replayed blindly). */
  readonly effect: 'read' | 'write';
  /** Safe to run again with the same idempotency key. */
  readonly idempotent?: boolean;
  /** Its own call limit in ms; else `agent.tool_timeout`. */
  readonly timeoutMs?: number;
  /** "always": a call waits for a person's approval (tools.approval can ask it of others too). */
  readonly approval?: 'always' | 'never';
  /** Phrases with `{slot}`s naming parameters, by which the built-in model routes to it (checked at registration). */
  readonly examples?: readonly string[];
  execute(args: JsonObject, ctx: ToolContext): Promise<JsonValue>;
}

/** One reply going out through a channel; the SDK's type, so the plugin and the host never differ. */
export type { CallOutcome, ChannelMethod };

/**
 * A chat platform's adapter, found by the `channel` of a message. Every call goes to the
 * plugin thread that registered it; core (src/channels/) does the rest.
 */
export interface Channel extends Owned {
  readonly name: string;
  readonly capabilities: ChannelCapabilities;
  /** The optional methods the plugin implemented. */
  readonly methods: ReadonlySet<ChannelMethod>;
  plan(markdown: string, target: ChannelTarget, account: ChannelAccount, extras?: PlanExtras): Promise<DeliveryPlan>;
  send(part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<CallOutcome>;
  edit(platformMessageId: string, part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<CallOutcome>;
  typing(target: ChannelTarget, account: ChannelAccount, state: 'start' | 'stop', signal: AbortSignal): Promise<CallOutcome>;
  reconcile(part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<ReconcileResult>;
  webhook(request: WebhookRequest, account: ChannelAccount): Promise<WebhookVerdict>;
  /** Check the account with the platform (and register a webhook); a permanent failure means an operator must act. */
  connect(account: ChannelAccount, signal: AbortSignal): Promise<CallOutcome>;
  /** Runs the poll loop until `signal` aborts; its ingest calls name `session`. */
  poll(account: ChannelAccount, session: string, signal: AbortSignal): Promise<void>;
}

/** Undo a registration. Plugins keep these on their scope so unloading is exact. */
export type Disposer = () => void;
