/**
 * The shape of `GET /v1/stats`: what the built-in dashboard draws. A snapshot of now plus the
 * last minutes as one sample per second, so a page opened under load shows history at once.
 */

export interface LiveSample {
  /** Unix ms at the end of the second sampled. */
  t: number;
  /** Messages finished (done or dead) in that second. */
  messagesPerSecond: number;
  /** Messages accepted into the queue in that second. */
  acceptedPerSecond: number;
  /** Enqueue-to-reply latency over the last 10 s of finished messages; null when none finished. */
  p50Ms: number | null;
  p99Ms: number | null;
  queueDepth: number;
  queueLimit: number;
  /** Share of finished attempts that succeeded over the last 60 s (done / (done + retry + dead)); null when none. */
  successRate: number | null;
  /** The machine's CPU busy share, 0..1. */
  cpuRatio: number;
  rssBytes: number;
  /** Concurrent workers allowed, and busy. */
  workers: number;
  busyWorkers: number;
  eventLoopLagMs: number;
}

export interface LiveStats {
  version: string;
  botName: string;
  uptimeSeconds: number;
  now: LiveSample;
  /** Oldest first, up to 300 samples (5 min). */
  history: LiveSample[];
  queue: { depth: number; byPriority: { high: number; normal: number; low: number }; limit: number; limitCap: number; dead: number; done: number };
  workers: { concurrency: number; busy: number; min: number; max: number; autoscale: boolean; lastChange: { at: number; from: number; to: number; reason: string } | null };
  disk: { freeBytes: number; sizeBytes: number; freeRatio: number };
  memory: { rssBytes: number; heapUsedBytes: number; heapLimitBytes: number };
  plugins: Array<{ name: string; version: string; state: string; reason?: string }>;
  models: Array<{ id: string; provider: string; model: string; calls: number; failures: number; coolingDown: boolean; inputTokens: number; outputTokens: number }>;
}
