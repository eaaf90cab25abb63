import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { loadConfig, type LoadConfigOptions } from './config/load.js';
import type { PincerConfig } from './config/schema.js';
import { errorMessage } from './errors.js';
import { MessageEvents } from './events/message-events.js';
import { createLogger, type PincerLogger } from './log/logger.js';
import { conversationHistory } from './models/history.js';
import { modelResponder } from './models/responder.js';
import { buildModelLayer, type ModelLayer } from './models/setup.js';
import { Pipeline } from './pipeline/pipeline.js';
import { PipelineRegistry } from './pipeline/registry.js';
import { memory } from './metrics/host.js';
import { PincerMetrics, type WorkerView } from './metrics/metrics.js';
import { PluginManager } from './plugins/plugin-manager.js';
import { openQueue } from './queue/open.js';
import type { ClaimedMessage, Completion, Queue } from './queue/types.js';
import { assertSafeBind } from './server/auth.js';
import { buildServer } from './server/app.js';
import type { ReadinessReport, ServerDeps } from './server/deps.js';
import { PINCER_ROOT, PINCER_VERSION } from './version.js';
import { Autoscaler, DEFAULT_POLICY } from './workers/autoscaler.js';
import { WorkerPool } from './workers/worker-pool.js';

export interface PincerOptions {
  /** A validated config; otherwise it is loaded from file and environment with `load`. */
  config?: PincerConfig;
  load?: LoadConfigOptions;
  /** Log lines go here instead of stdout (tests). */
  logDestination?: DestinationStream;
  /** Environment for plugin settings (PINCER_PLUGIN_*); process.env by default. */
  env?: NodeJS.ProcessEnv;
}

const PURGE_EVERY_MS = 60 * 60 * 1000;

/**
 * One bot: its store, queue, pipeline, workers and HTTP API. Everything is owned by the
 * instance (no process globals), so several can run in one process. Parts start in order
 * and `close()` stops them in reverse.
 */
export class Pincer {
  readonly config: PincerConfig;
  readonly log: Logger;
  readonly queue: Queue;
  readonly events = new MessageEvents();
  readonly registry = new PipelineRegistry();
  readonly pipeline: Pipeline;
  readonly workers: WorkerPool;
  readonly plugins: PluginManager;
  readonly models: ModelLayer;
  readonly metrics: PincerMetrics;
  readonly startedAt = Date.now();

  private httpServer: FastifyInstance | undefined;
  private readonly closers: Array<{ name: string; close: () => Promise<void> | void }> = [];
  private readonly shutdown = new AbortController();
  private closing: Promise<void> | undefined;
  private listening = false;
  private modelsStatus = 'warming up';
  private pluginsStarted = false;
  private autoscaler: Autoscaler | undefined;

  private constructor(config: PincerConfig, logger: PincerLogger, env: NodeJS.ProcessEnv, queue: Queue) {
    this.config = config;
    this.log = logger.logger;
    this.closers.push({ name: 'log', close: logger.flush });
    this.queue = queue;
    this.closers.push({ name: 'queue', close: () => this.queue.close() });
    this.pipeline = new Pipeline(this.registry, config.workers.stage_timeout);
    this.metrics = new PincerMetrics({
      version: PINCER_VERSION,
      botName: config.bot.name,
      dataDir: config.data_dir,
      startedAt: this.startedAt,
      queueStats: () => this.queue.stats(),
      workers: () => this.workerView(),
      models: () => this.models.router.stats(),
      modelViews: () => this.models.deployments,
      plugins: () => this.plugins.list(),
    });
    this.closers.push({ name: 'metrics', close: () => this.metrics.stop() });
    this.workers = new WorkerPool(this.queue, (message, signal) => this.handle(message, signal), this.events, this.log, {
      concurrency: config.workers.concurrency,
      shutdownTimeoutMs: config.workers.shutdown_timeout,
      leaseMs: config.queue.lease,
      observer: { started: (m) => this.metrics.messageStarted(m), finished: (m, outcome) => this.metrics.messageFinished(m, outcome) },
    });
    this.plugins = new PluginManager({
      config,
      registry: this.registry,
      log: this.log,
      version: PINCER_VERSION,
      bundledRoot: PINCER_ROOT,
      startedAt: this.startedAt,
      stats: () => this.queue.stats(),
      env,
    });
    // The built-in model answers unless models.default or a vendor key says otherwise (docs/models.md).
    this.models = buildModelLayer(config, env, PINCER_VERSION);
    this.closers.push({ name: 'models', close: () => this.models.close() });
    const providerOf = new Map(this.models.deployments.map((d) => [d.id, d.provider]));
    this.models.router.onEvent((event) => this.metrics.routerEvent(event, (id) => providerOf.get(id) ?? 'unknown'));
    this.plugins.onEvent((event) => this.metrics.pluginEvent(event));
    // The built-in model reads only the message itself: reading history for it would be a
    // query per message for nothing.
    const wantsHistory = config.models.history_tokens > 0 && this.models.deployments.some((d) => d.provider !== 'local');
    const history = wantsHistory ? { history: conversationHistory(this.queue, config.models.history_tokens) } : {};
    this.registry.addResponder(modelResponder({ model: this.models.model, systemPrompt: this.models.systemPrompt, ...history }));
  }

  /** Open the store and build every part; nothing is consumed or served until `start()`. */
  static async create(options: PincerOptions = {}): Promise<Pincer> {
    const config = options.config ?? loadConfig(options.load).config;
    assertSafeBind(config.server.host, { tokens: config.auth.tokens, adminTokens: config.auth.admin_tokens });
    const logger = createLogger({ level: config.log.level, destination: options.logDestination });
    let instance: Pincer | undefined;
    let queue: Queue | undefined;
    try {
      // Opening may be asynchronous (PostgreSQL connects and migrates); the instance owns it after.
      queue = await openQueue(config, logger.logger);
      instance = new Pincer(config, logger, options.env ?? process.env, queue);
      instance.httpServer = await buildServer(instance.serverDeps());
      return instance;
    } catch (err) {
      if (instance) await instance.close();
      else {
        await queue?.close().catch(() => undefined);
        logger.flush();
      }
      throw err;
    }
  }

  get version(): string {
    return PINCER_VERSION;
  }

  get server(): FastifyInstance {
    if (!this.httpServer) throw new Error('Pincer.create() has not finished');
    return this.httpServer;
  }

  private serverDeps(): ServerDeps {
    return {
      config: this.config,
      log: this.log,
      queue: this.queue,
      events: this.events,
      plugins: this.plugins,
      models: this.models,
      metrics: this.metrics,
      version: PINCER_VERSION,
      readiness: () => this.readiness(),
      workerStats: () => this.workers.stats(),
      shutdownSignal: this.shutdown.signal,
    };
  }

  private workerView(): WorkerView {
    const stats = this.workers.stats();
    const auto = this.config.workers.autoscale;
    if (!this.autoscaler) return { concurrency: stats.concurrency, busy: stats.inFlight, min: stats.concurrency, max: stats.concurrency, autoscale: false, lastChange: null };
    const last = this.autoscaler.lastChange;
    return { concurrency: stats.concurrency, busy: stats.inFlight, min: auto.min, max: auto.max, autoscale: true, lastChange: last ? { at: last.at, from: last.from, to: last.to, reason: last.reason } : null };
  }

  /** Ticks the autoscaler from the queue's backlog and the process's strain (docs/operations.md#autoscaling). */
  private startAutoscaler(): void {
    const auto = this.config.workers.autoscale;
    const autoscaler = new Autoscaler(
      { ...DEFAULT_POLICY, min: auto.min, max: auto.max, upAfter: auto.up_after, downAfter: auto.down_after, maxLagMs: auto.max_event_loop_lag, maxCpu: auto.max_cpu, maxMemory: auto.max_memory },
      () => this.workers.concurrency,
      (n) => this.workers.setConcurrency(n),
    );
    this.autoscaler = autoscaler;
    // The metrics' one-second sample already holds what the policy reads (the queue's counts,
    // busy workers, event-loop lag, CPU): no second timer, queue query or lag monitor.
    let last = -Infinity;
    const off = this.metrics.onSample((sample, stats) => {
      if (sample.t - last < auto.interval) return;
      last = sample.t;
      const heap = memory();
      const decision = autoscaler.tick({ backlog: stats.byState.queued, busy: sample.busyWorkers, lagMs: sample.eventLoopLagMs, cpu: sample.cpuRatio, memory: heap.heapUsedBytes / heap.heapLimitBytes });
      if (decision) this.log.info({ event: 'workers.autoscale', ...decision }, `workers ${decision.from} -> ${decision.to}: ${decision.reason}`);
    });
    this.closers.push({ name: 'autoscaler', close: off });
  }

  private handle(message: ClaimedMessage, signal: AbortSignal): Promise<Completion> {
    return this.pipeline.process(message, {
      signal,
      log: this.log,
      onToken: (delta) => this.events.emit({ type: 'token', id: message.id, delta }),
    });
  }

  /** Start the workers and listen. Resolves with the URL once the port is bound. */
  async start(): Promise<string> {
    // Plugins first, so the first message already meets every enabled analyzer and command.
    this.closers.push({ name: 'plugins', close: () => this.plugins.close() });
    // Plugins and model warm-up run side by side; /ready waits for both.
    const warming = this.warmUpModels();
    await this.plugins.start();
    this.pluginsStarted = true;
    await warming;
    if (this.config.workers.enabled) {
      this.workers.start();
      this.closers.push({ name: 'workers', close: () => this.workers.stop() });
      if (this.config.workers.autoscale.enabled) this.startAutoscaler();
    } else {
      this.log.info({ event: 'workers.disabled' }, 'workers disabled (workers.enabled = false): this node only accepts messages');
    }
    this.metrics.start();
    const purge = setInterval(() => void this.purgeOld(), PURGE_EVERY_MS);
    purge.unref();
    this.closers.push({ name: 'purge', close: () => clearInterval(purge) });

    await this.server.listen({ host: this.config.server.host, port: this.config.server.port });
    this.listening = true;
    this.closers.push({ name: 'http', close: () => this.server.close() });
    const url = this.url;
    this.log.info({ event: 'listening', url, version: PINCER_VERSION, store: this.queue.backend, ms: Date.now() - this.startedAt }, `Pincer ${PINCER_VERSION} listening on ${url}`);
    return url;
  }

  get url(): string {
    const address = this.server.server.address() as AddressInfo | null;
    if (!address) throw new Error('Pincer is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async readiness(): Promise<ReadinessReport> {
    const checks: Record<string, string> = {};
    if (this.shutdown.signal.aborted) return { ready: false, reason: 'shutting down', checks: { shutdown: 'in progress' } };
    try {
      await this.queue.ping();
      checks.storage = 'ok';
    } catch (err) {
      checks.storage = errorMessage(err);
    }
    if (this.config.workers.enabled) checks.workers = this.workers.stats().running ? 'ok' : 'not running';
    checks.plugins = this.pluginsStarted ? 'ok' : 'starting';
    checks.models = this.modelsStatus;
    checks.http = this.listening ? 'ok' : 'not listening';
    const failing = Object.entries(checks).filter(([, v]) => v !== 'ok');
    return failing.length === 0 ? { ready: true, checks } : { ready: false, reason: failing.map(([k, v]) => `${k}: ${v}`).join('; '), checks };
  }

  /**
   * Stop in reverse order of start: HTTP (no new messages; waiting clients are answered),
   * workers (in-flight work finishes or is released), the queue (pending commits flushed),
   * then the log. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.shutdown.abort();
      this.log.info({ event: 'shutdown' }, 'shutting down');
      for (const closer of this.closers.reverse()) {
        try {
          await closer.close();
        } catch (err) {
          this.log.error({ err, part: closer.name }, `error while closing ${closer.name}`);
        }
      }
    })();
    return this.closing;
  }

  private async warmUpModels(): Promise<void> {
    const started = Date.now();
    const failures = await this.models.warmUp(this.config.models.router.timeout);
    for (const f of failures) this.log.warn({ event: 'model.warmup_failed', deployment: f.id, error: f.error }, `model deployment ${f.id} failed to warm up: ${f.error}`);
    const usable = this.models.deployments.length - failures.length;
    this.modelsStatus = usable > 0 ? 'ok' : `no model deployment is usable: ${failures.map((f) => `${f.id}: ${f.error}`).join('; ')}`;
    this.log.info({ event: 'model.warmup', ms: Date.now() - started, usable, failed: failures.length }, `models warmed up in ${Date.now() - started} ms (${usable} of ${this.models.deployments.length} usable)`);
  }

  private async purgeOld(): Promise<void> {
    try {
      const removed = await this.queue.purge(this.config.queue.retention);
      if (removed > 0) this.log.info({ event: 'queue.purge', removed }, `purged ${removed} finished message(s) past retention`);
    } catch (err) {
      this.log.error({ err }, 'purging finished messages failed');
    }
  }
}
