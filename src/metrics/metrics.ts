import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeploymentStats, RouterEvent } from '../models/router.js';
import type { PluginEvent, PluginView } from '../plugins/view.js';
import type { MessageEvent, MessageEventBus } from '../events/types.js';
import { MESSAGE_STATES, PRIORITIES, type ClaimedMessage, type QueueStats } from '../store/types.js';
import { diskSpace, HostCpu, memory } from './host.js';
import type { LiveSample, LiveStats } from './live-types.js';
import { RollingWindow } from './rolling.js';

/**
 * Everything Pincer counts, in its own prom-client registry (two Pincer instances in one
 * process do not share one), and the one-second samples behind GET /v1/stats. Counters that
 * the queue and router already keep (enqueued, dead letters, tokens) are brought over as
 * deltas when read, so the hot path pays nothing for them; the rest is observed as it happens.
 * Names and labels: docs/operations.md.
 */

export interface WorkerView {
  concurrency: number;
  busy: number;
  min: number;
  max: number;
  autoscale: boolean;
  lastChange: { at: number; from: number; to: number; reason: string } | null;
}

export interface MetricSources {
  version: string;
  botName: string;
  dataDir: string;
  startedAt: number;
  queueStats(): Promise<QueueStats>;
  workers(): WorkerView;
  models(): DeploymentStats[];
  /** The response cache's counts so far (models/cache.ts). */
  modelCache?(): { hits: number; misses: number };
  modelViews(): Array<{ id: string; provider: string; model: string }>;
  plugins(): PluginView[];
}

export type MessageOutcome = 'done' | 'retry' | 'dead';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HISTORY_SECONDS = 300;
const LATENCY_WINDOW_SECONDS = 10;
const SUCCESS_WINDOW_SECONDS = 60;

export class PincerMetrics {
  readonly registry = new Registry();
  private readonly cpu = new HostCpu();
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly latency = new RollingWindow(LATENCY_WINDOW_SECONDS);
  private readonly outcomesPerSecond: Array<Record<MessageOutcome, number>> = [];
  private current: Record<MessageOutcome, number> = { done: 0, retry: 0, dead: 0 };
  private readonly history: LiveSample[] = [];
  private last: { stats?: QueueStats; models: Map<string, DeploymentStats>; cache: { hits: number; misses: number } } = { models: new Map(), cache: { hits: 0, misses: 0 } };
  private ticker: NodeJS.Timeout | undefined;
  private latestQueue: QueueStats | undefined;
  /** Reads of the queue's stats are numbered: one that resolves after a newer one is not applied (its deltas would count twice). */
  private statsReads = 0;
  private appliedRead = 0;
  private readonly sampleListeners = new Set<(sample: LiveSample, stats: QueueStats) => void>();
  /** The enqueued count at the previous one-second sample (scrapes keep their own baseline). */
  private lastTickEnqueued: number | undefined;

  readonly httpRequests = new Counter({ name: 'pincer_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new Histogram({ name: 'pincer_http_request_duration_seconds', help: 'Time to answer an HTTP request (a stream: to its end)', labelNames: ['method', 'route'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly accepted = new Counter({ name: 'pincer_messages_accepted_total', help: 'Messages committed to the queue', registers: [this.registry] });
  private readonly processed = new Counter({ name: 'pincer_messages_processed_total', help: 'Outcomes of processing attempts', labelNames: ['outcome'] as const, registers: [this.registry] });
  private readonly messages = new Gauge({ name: 'pincer_messages', help: 'Messages in the store by state', labelNames: ['state'] as const, registers: [this.registry] });
  private readonly depth = new Gauge({ name: 'pincer_queue_depth', help: 'Messages waiting for a worker (queued, or failed and waiting for a retry) by priority', labelNames: ['priority'] as const, registers: [this.registry] });
  private readonly limit = new Gauge({ name: 'pincer_queue_limit', help: 'The current queue limit (grows under load, S5.2)', registers: [this.registry] });
  private readonly limitCap = new Gauge({ name: 'pincer_queue_limit_cap', help: 'The most the queue limit may grow to', registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'pincer_queue_rejected_total', help: 'Enqueues refused because the queue was full', registers: [this.registry] });
  private readonly deadLetters = new Counter({ name: 'pincer_dead_letters_total', help: 'Messages that became dead letters', registers: [this.registry] });
  private readonly enqueueToStart = new Histogram({ name: 'pincer_enqueue_to_start_seconds', help: 'Wait in the queue before a worker starts a message (first attempts)', buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly endToEnd = new Histogram({ name: 'pincer_end_to_end_seconds', help: 'From enqueue to the reply stored', buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly concurrency = new Gauge({ name: 'pincer_workers_concurrency', help: 'Concurrent workers allowed now', registers: [this.registry] });
  private readonly concurrencyMin = new Gauge({ name: 'pincer_workers_concurrency_min', help: "The autoscaler's lower bound", registers: [this.registry] });
  private readonly concurrencyMax = new Gauge({ name: 'pincer_workers_concurrency_max', help: "The autoscaler's upper bound", registers: [this.registry] });
  private readonly busy = new Gauge({ name: 'pincer_workers_busy', help: 'Workers running a message now', registers: [this.registry] });
  private readonly modelCalls = new Counter({ name: 'pincer_model_calls_total', help: 'Model call attempts', labelNames: ['deployment', 'provider', 'outcome'] as const, registers: [this.registry] });
  private readonly modelDuration = new Histogram({ name: 'pincer_model_call_duration_seconds', help: 'Duration of a model call attempt', labelNames: ['deployment', 'provider'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly modelErrors = new Counter({ name: 'pincer_model_errors_total', help: 'Failed model call attempts by class', labelNames: ['deployment', 'provider', 'class'] as const, registers: [this.registry] });
  private readonly modelTokens = new Counter({ name: 'pincer_model_tokens_total', help: 'Tokens used', labelNames: ['deployment', 'provider', 'direction'] as const, registers: [this.registry] });
  private readonly modelCost = new Counter({ name: 'pincer_model_cost_usd_total', help: 'Model cost in USD, where cost is configured', labelNames: ['deployment', 'provider'] as const, registers: [this.registry] });
  private readonly modelCache = new Counter({ name: 'pincer_model_cache_requests_total', help: 'Cacheable model requests (temperature 0) by whether the response cache answered them', labelNames: ['result'] as const, registers: [this.registry] });
  private readonly modelCooldown = new Gauge({ name: 'pincer_model_cooldown', help: '1 while the deployment is cooling down (circuit open)', labelNames: ['deployment', 'provider'] as const, registers: [this.registry] });
  private readonly agentSteps = new Counter({ name: 'pincer_agent_steps_total', help: 'Model calls made by tool loops', registers: [this.registry] });
  private readonly agentToolCalls = new Counter({ name: 'pincer_agent_tool_calls_total', help: 'Tool calls of tool loops by tool and outcome (ok, or the error code the model was given)', labelNames: ['tool', 'outcome'] as const, registers: [this.registry] });
  private readonly agentStops = new Counter({ name: 'pincer_agent_stops_total', help: 'Tool loops ended, by reason (done, max_steps, max_tool_calls, time_budget, token_budget, loop)', labelNames: ['reason'] as const, registers: [this.registry] });
  private readonly pluginCalls = new Counter({ name: 'pincer_plugin_calls_total', help: 'Calls into plugins', labelNames: ['plugin', 'outcome'] as const, registers: [this.registry] });
  private readonly pluginDuration = new Histogram({ name: 'pincer_plugin_call_duration_seconds', help: 'Duration of a plugin call', labelNames: ['plugin'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly pluginState = new Gauge({ name: 'pincer_plugin_state', help: "1 for the plugin's current state", labelNames: ['plugin', 'state'] as const, registers: [this.registry] });
  private readonly pluginAutoDisabled = new Counter({ name: 'pincer_plugin_auto_disabled_total', help: 'Plugins disabled after max_failures consecutive failures', labelNames: ['plugin'] as const, registers: [this.registry] });
  private readonly hostCpu = new Gauge({ name: 'pincer_host_cpu_ratio', help: "The machine's CPU busy share, 0..1", registers: [this.registry] });
  private readonly diskFree = new Gauge({ name: 'pincer_data_disk_free_bytes', help: 'Free space of the file system holding data_dir', registers: [this.registry] });
  private readonly diskSize = new Gauge({ name: 'pincer_data_disk_size_bytes', help: 'Size of the file system holding data_dir', registers: [this.registry] });

  constructor(private readonly sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'pincer_build_info', help: 'Always 1', labelNames: ['version'] as const, registers: [this.registry] }).set({ version: sources.version }, 1);
    this.loopDelay.enable();
  }

  /** Sample once a second for GET /v1/stats; stop() ends it. */
  start(): void {
    this.ticker ??= setInterval(() => void this.tick(), 1000);
    this.ticker.unref();
  }

  stop(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.loopDelay.disable();
  }

  /** Called with each one-second sample and the queue stats it was taken from (the autoscaler reads it). */
  onSample(listener: (sample: LiveSample, stats: QueueStats) => void): () => void {
    this.sampleListeners.add(listener);
    return () => this.sampleListeners.delete(listener);
  }

  messageStarted(message: Pick<ClaimedMessage, 'attempts' | 'createdAt'>, now = Date.now()): void {
    // A retry's wait includes its backoff, which is not queueing delay.
    if (message.attempts === 1) this.enqueueToStart.observe(Math.max(0, now - message.createdAt) / 1000);
  }

  messageFinished(message: Pick<ClaimedMessage, 'createdAt'>, outcome: MessageOutcome, now = Date.now()): void {
    this.processed.inc({ outcome });
    this.current[outcome]++;
    if (outcome === 'done') {
      const ms = Math.max(0, now - message.createdAt);
      this.endToEnd.observe(ms / 1000);
      this.latency.add(ms, now);
    }
  }

  /** Count the messages this node processes, from the events its worker pool publishes. Returns the disposer. */
  follow(events: MessageEventBus): () => void {
    return events.subscribeLocal((event: MessageEvent) => {
      if (event.type !== 'status' || event.createdAt === undefined) return;
      const message = { attempts: event.attempts, createdAt: event.createdAt };
      if (event.status === 'processing') this.messageStarted(message);
      else if (event.status === 'done' || event.status === 'dead') this.messageFinished(message, event.status);
      else if (event.status === 'failed') this.messageFinished(message, 'retry');
    });
  }

  routerEvent(event: RouterEvent, provider: (deployment: string) => string): void {
    const labels = { deployment: event.deployment, provider: provider(event.deployment) };
    if (event.type !== 'attempt') return;
    this.modelCalls.inc({ ...labels, outcome: event.ok ? 'ok' : 'error' });
    this.modelDuration.observe(labels, event.ms / 1000);
    if (!event.ok) this.modelErrors.inc({ ...labels, class: event.errorClass ?? 'server' });
  }

  /** One tool loop's figures, once it ended. */
  agentRun(run: { modelCalls: number; steps: ReadonlyArray<{ tool: string; ok: boolean; code?: string }>; stopReason: string }): void {
    this.agentSteps.inc(run.modelCalls);
    for (const step of run.steps) this.agentToolCalls.inc({ tool: step.tool, outcome: step.ok ? 'ok' : (step.code ?? 'error') });
    this.agentStops.inc({ reason: run.stopReason });
  }

  pluginEvent(event: PluginEvent): void {
    if (event.type === 'call') {
      this.pluginCalls.inc({ plugin: event.plugin, outcome: event.ok ? 'ok' : 'error' });
      this.pluginDuration.observe({ plugin: event.plugin }, event.ms / 1000);
    } else if (event.type === 'auto_disabled') {
      this.pluginAutoDisabled.inc({ plugin: event.plugin });
    }
  }

  /** Prometheus text, with every read-on-demand figure brought up to date first. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    await this.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  async live(): Promise<LiveStats> {
    // Before the first tick (a page opened in the first second), take the first sample now.
    if (this.history.length === 0) await this.tick();
    const stats = this.latestQueue ?? (await this.sources.queueStats());
    const now = this.history.at(-1) ?? (await this.sample(stats));
    const disk = safeDisk(this.sources.dataDir);
    return {
      version: this.sources.version,
      botName: this.sources.botName,
      uptimeSeconds: Math.round((Date.now() - this.sources.startedAt) / 100) / 10,
      now,
      history: [...this.history],
      queue: { depth: stats.depth, byPriority: { ...stats.byPriority }, limit: stats.limit, limitCap: stats.cap, dead: stats.byState.dead, done: stats.byState.done },
      workers: this.sources.workers(),
      disk,
      memory: memory(),
      plugins: this.sources.plugins().map((p) => ({ name: p.name, version: p.version, state: p.state, ...(p.reason ? { reason: p.reason } : {}) })),
      models: this.modelViews(),
    };
  }

  private modelViews(): LiveStats['models'] {
    const stats = new Map(this.sources.models().map((s) => [s.id, s]));
    const now = Date.now();
    return this.sources.modelViews().map((v) => {
      const s = stats.get(v.id);
      return {
        id: v.id,
        provider: v.provider,
        model: v.model,
        calls: s?.calls ?? 0,
        failures: s?.failures ?? 0,
        coolingDown: s?.coolingDownUntil != null && s.coolingDownUntil > now,
        inputTokens: s?.usage.inputTokens ?? 0,
        outputTokens: s?.usage.outputTokens ?? 0,
      };
    });
  }

  private async readQueue(): Promise<{ stats: QueueStats; read: number }> {
    const read = ++this.statsReads;
    return { stats: await this.sources.queueStats(), read };
  }

  private async tick(): Promise<void> {
    try {
      const { stats, read } = await this.readQueue();
      this.latestQueue = stats;
      this.syncQueue(stats, read);
      const sample = await this.sample(stats);
      this.history.push(sample);
      if (this.history.length > HISTORY_SECONDS) this.history.shift();
      for (const listener of this.sampleListeners) listener(sample, stats);
    } catch {
      // The store is busy or closing; the next second samples again.
    }
  }

  private async sample(stats: QueueStats): Promise<LiveSample> {
    const now = Date.now();
    const outcomes = this.current;
    this.current = { done: 0, retry: 0, dead: 0 };
    this.outcomesPerSecond.push(outcomes);
    if (this.outcomesPerSecond.length > SUCCESS_WINDOW_SECONDS) this.outcomesPerSecond.shift();
    const window = this.outcomesPerSecond.reduce((sum, o) => ({ done: sum.done + o.done, retry: sum.retry + o.retry, dead: sum.dead + o.dead }), { done: 0, retry: 0, dead: 0 });
    const attempts = window.done + window.retry + window.dead;
    const accepted = this.lastTickEnqueued === undefined ? 0 : Math.max(0, stats.enqueued - this.lastTickEnqueued);
    this.lastTickEnqueued = stats.enqueued;
    const workers = this.sources.workers();
    const lag = this.loopDelay.percentile(99) / 1e6;
    this.loopDelay.reset();
    return {
      t: now,
      messagesPerSecond: outcomes.done + outcomes.dead,
      acceptedPerSecond: accepted,
      p50Ms: this.latency.quantile(0.5, now),
      p99Ms: this.latency.quantile(0.99, now),
      queueDepth: stats.depth,
      queueLimit: stats.limit,
      successRate: attempts > 0 ? window.done / attempts : null,
      cpuRatio: this.cpu.sample(),
      rssBytes: process.memoryUsage.rss(),
      workers: workers.concurrency,
      busyWorkers: workers.busy,
      eventLoopLagMs: Math.round(lag * 10) / 10,
    };
  }

  /** Queue gauges, and the queue's own counters brought over as deltas. */
  private syncQueue(stats: QueueStats, read: number): void {
    if (read <= this.appliedRead) return;
    this.appliedRead = read;
    const previous = this.last.stats;
    this.last.stats = stats;
    for (const state of MESSAGE_STATES) this.messages.set({ state }, stats.byState[state]);
    for (const priority of PRIORITIES) this.depth.set({ priority }, stats.byPriority[priority]);
    this.limit.set(stats.limit);
    this.limitCap.set(stats.cap);
    this.accepted.inc(Math.max(0, stats.enqueued - (previous?.enqueued ?? 0)));
    this.deadLetters.inc(Math.max(0, stats.deadLettered - (previous?.deadLettered ?? 0)));
    this.rejected.inc(Math.max(0, stats.rejected - (previous?.rejected ?? 0)));
  }

  private async refresh(): Promise<void> {
    const { stats, read } = await this.readQueue();
    this.syncQueue(stats, read);
    const workers = this.sources.workers();
    this.concurrency.set(workers.concurrency);
    this.concurrencyMin.set(workers.min);
    this.concurrencyMax.set(workers.max);
    this.busy.set(workers.busy);

    const now = Date.now();
    const providers = new Map(this.sources.modelViews().map((v) => [v.id, v.provider]));
    for (const s of this.sources.models()) {
      const labels = { deployment: s.id, provider: providers.get(s.id) ?? s.provider };
      const before = this.last.models.get(s.id);
      this.modelTokens.inc({ ...labels, direction: 'input' }, Math.max(0, s.usage.inputTokens - (before?.usage.inputTokens ?? 0)));
      this.modelTokens.inc({ ...labels, direction: 'output' }, Math.max(0, s.usage.outputTokens - (before?.usage.outputTokens ?? 0)));
      this.modelCost.inc(labels, Math.max(0, s.costUsd - (before?.costUsd ?? 0)));
      this.modelCooldown.set(labels, s.coolingDownUntil !== null && s.coolingDownUntil > now ? 1 : 0);
      this.last.models.set(s.id, { ...s, usage: { ...s.usage } });
    }
    const cache = this.sources.modelCache?.() ?? this.last.cache;
    this.modelCache.inc({ result: 'hit' }, Math.max(0, cache.hits - this.last.cache.hits));
    this.modelCache.inc({ result: 'miss' }, Math.max(0, cache.misses - this.last.cache.misses));
    this.last.cache = { hits: cache.hits, misses: cache.misses };

    this.pluginState.reset();
    for (const p of this.sources.plugins()) this.pluginState.set({ plugin: p.name, state: p.state }, 1);

    // Between ticks (or with no ticker) the scrape reads the CPU itself.
    this.hostCpu.set(this.ticker ? this.cpu.current : this.cpu.sample());
    const disk = safeDisk(this.sources.dataDir);
    this.diskFree.set(disk.freeBytes);
    this.diskSize.set(disk.sizeBytes);
  }
}

function safeDisk(dir: string): { freeBytes: number; sizeBytes: number; freeRatio: number } {
  try {
    return diskSpace(dir);
  } catch {
    return { freeBytes: 0, sizeBytes: 0, freeRatio: 0 };
  }
}
