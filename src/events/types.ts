import type { MessageState, Reply } from '../store/types.js';

/**
 * What happens to a message, as clients watching it (SSE, `?wait=`, the OpenAI endpoint) and
 * metrics see it. `attempt` on a token says which attempt's reply it belongs to: a retry
 * streams its reply from the start.
 */
export type MessageEvent =
  | { type: 'status'; id: string; status: MessageState; attempts: number; error?: string; createdAt?: number }
  | { type: 'token'; id: string; delta: string; attempt?: number }
  /** The tool loop began model call `index` (0-based) of this attempt. */
  | { type: 'step'; id: string; index: number; attempt?: number }
  /** A tool call of the tool loop ended: `error` is the code the model was given. */
  | { type: 'tool'; id: string; tool: string; ok: boolean; ms: number; error?: string; attempt?: number }
  | { type: 'reply'; id: string; reply: Reply };

/** What the tool loop reports while it runs (src/agent/), as a responder's progress. */
export type AgentProgress = { kind: 'step'; index: number } | { kind: 'tool'; tool: string; ok: boolean; ms: number; error?: string };

export const TERMINAL_STATES: ReadonlySet<MessageState> = new Set(['done', 'dead']);

/**
 * The seam for message events. The worker pool is their one publisher; subscribers hear a
 * message's events whichever node of the cluster processes it. In-process for a single node
 * (`local.ts`), over LISTEN/NOTIFY for nodes sharing a PostgreSQL store (`postgres.ts`).
 */
export interface MessageEventBus {
  /** This node's news about a message it processes. */
  publish(event: MessageEvent): void;
  /** One message's events, wherever it is processed. Returns the disposer. */
  subscribe(id: string, listener: (event: MessageEvent) => void): () => void;
  /** Every event this node publishes (metrics, the dashboard); other nodes' are theirs. */
  subscribeLocal(listener: (event: MessageEvent) => void): () => void;
  /**
   * How often a watcher should re-read the store in case an event was lost (a node died
   * between its commit and telling the others, a LISTEN connection dropped); undefined when
   * nothing can be lost.
   */
  readonly resyncMs: number | undefined;
  close(): Promise<void>;
}
