import type { Logger } from 'pino';
import type { ApprovalDesk } from '../agent/approvals.js';
import type { ChannelRuntime } from '../channels/runtime.js';
import type { KnowledgeBase } from '../kb/service.js';
import type { PincerConfig } from '../config/schema.js';
import type { MemoryService } from '../memory/service.js';
import type { PincerMetrics } from '../metrics/metrics.js';
import type { ModelLayer } from '../models/setup.js';
import type { PluginManager } from '../plugins/manager.js';
import type { Store } from '../store/types.js';
import type { WorkerPoolStats } from '../workers/worker-pool.js';

export interface ReadinessReport {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
  checks: Record<string, 'ok' | string>;
}

/** What the HTTP layer needs from a running Pincer. */
export interface ServerDeps {
  config: PincerConfig;
  log: Logger;
  store: Store;
  plugins: PluginManager;
  models: ModelLayer;
  metrics: PincerMetrics;
  channels: ChannelRuntime;
  /** The knowledge base (docs/knowledge.md); absent when kb.enabled is false. */
  kb?: KnowledgeBase;
  /** Tool-call approvals: deciding one enqueues its continuation. */
  approvals: ApprovalDesk;
  /** Agent memory (DELETE /v1/conversations/:id/memory); absent when memory.enabled is false. */
  memory?: Pick<MemoryService, 'forgetConversation'>;
  version: string;
  readiness(): Promise<ReadinessReport>;
  workerStats(): WorkerPoolStats;
  /** Aborted when Pincer starts shutting down: long-held requests (?wait=) answer at once. */
  shutdownSignal: AbortSignal;
}
