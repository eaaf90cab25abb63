import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { channelPlugins } from './channels/accounts.js';
import { ChannelRuntime } from './channels/runtime.js';
import { loadConfig, type LoadConfigOptions } from './config/load.js';
import type { PincerConfig } from './config/schema.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger } from './log/logger.js';
import { buildModelLayer, type ModelLayer } from './models/setup.js';
import { MemoryService } from './memory/service.js';
import { memoryCommands, memoryTools } from './memory/tools.js';
import { conversationHistory } from './responders/history.js';
import { pendingToolReader } from './responders/local-pending.js';
import { modelResponder } from './responders/model.js';
import { Pipeline } from './pipeline/pipeline.js';
import { PipelineRegistry } from './pipeline/registry.js';
import { PincerMetrics, type WorkerView } from './metrics/metrics.js';
import { PluginManager } from './plugins/manager.js';
import { openStore } from './store/open.js';
import { retention } from './store/retention.js';
import type { Store } from './store/types.js';
import { assertSafeBind } from './server/auth.js';
import { agentBudgets } from './agent/budgets.js';
import { approvalCommands } from './agent/approval-commands.js';
import { ApprovalDesk, approvalSweepInterval } from './agent/approvals.js';
import { storeJournal } from './agent/journal.js';
import { ToolPolicy } from './agent/policy.js';
import type { KnowledgeBase } from './kb/service.js';
import { createKnowledgeBase, wireKnowledge } from './kb/setup.js';
import { buildServer } from './server/app.js';
import type { ReadinessReport, ServerDeps } from './server/deps.js';
import { PINCER_ROOT, PINCER_VERSION } from './version.js';
import { autoscaling, type Autoscaling } from './workers/autoscale-binding.js';
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

/**
 * One bot: its store, pipeline, plugins, models, workers and HTTP API. Everything is owned by
 * the instance (no process globals), so several can run in one process. The parts are listed
 * once, in `lifecycle`: they start in that order and stop in reverse, and /ready asks each.
 */
export class Pincer {
  readonly config: PincerConfig;
  readonly log: Logger;
  readonly store: Store;
  readonly registry = new PipelineRegistry();
  readonly pipeline: Pipeline;
  readonly workers: WorkerPool;
  readonly plugins: PluginManager;
  readonly models: ModelLayer;
  readonly metrics: PincerMetrics;
  readonly channels: ChannelRuntime;
  /** Who is offered which tool (`tools:`), and the approvals of calls that wait for a person. */
  readonly toolPolicy: ToolPolicy;
  readonly approvals: ApprovalDesk;
  /** Agent memory (docs/memory.md); undefined when memory.enabled is false. */
  readonly memory: MemoryService | undefined;
  /** The knowledge base (docs/knowledge.md); undefined when kb.enabled is false. */
  readonly kb: KnowledgeBase | undefined;
  readonly startedAt = Date.now();
  /** This instance among the nodes sharing a store (poller leases name it). */
  readonly nodeId = randomUUID();

  private httpServer: FastifyInstance | undefined;
  private readonly lifecycle: Lifecycle;
  private readonly shutdown = new AbortController();
  private modelsStatus = 'warming up';
  private autoscale: Autoscaling | undefined;

  private constructor(config: PincerConfig, log: Logger, flushLog: () => void, env: NodeJS.ProcessEnv, store: Store) {
    this.config = config;
    this.log = log;
    this.store = store;
    this.lifecycle = new Lifecycle(log);
    this.pipeline = new Pipeline(this.registry, config.workers.stage_timeout);
    this.models = buildModelLayer(config, env, PINCER_VERSION);
    this.metrics = new PincerMetrics({
      version: PINCER_VERSION,
      botName: config.bot.name,
      dataDir: config.data_dir,
      startedAt: this.startedAt,
      queueStats: () => this.store.admin.stats(),
      workers: () => this.workerView(),
      models: () => this.models.router.stats(),
      modelCache: () => this.models.cacheStats(),
      modelViews: () => this.models.deployments,
      plugins: () => this.plugins.list(),
    });
    const languageModel = this.readsPrompt();
    this.memory = config.memory.enabled
      ? new MemoryService({
          store: store.memory,
          messages: store.messages,
          config: config.memory,
          historyTokens: config.models.history_tokens,
          // The built-in model cannot summarise: with only it, there are no summaries.
          ...(languageModel && { model: this.models.model }),
          log,
          metrics: this.metrics.registry,
        })
      : undefined;
    this.channels = new ChannelRuntime({
      channels: config.channels,
      work: store.work,
      store: store.channels,
      registry: this.registry,
      metricsRegistry: this.metrics.registry,
      log: this.log,
      nodeId: this.nodeId,
      botName: config.bot.name,
      maxTextLength: config.server.max_text_length,
    });
    this.kb = createKnowledgeBase(config, store.knowledge, this.models, this.log);
    this.toolPolicy = new ToolPolicy(config.tools);
    this.approvals = new ApprovalDesk({ store: store.agent, work: store.work, policy: this.toolPolicy, now: Date.now, log: this.log });
    this.workers = new WorkerPool(
      store.work,
      (message, signal, onToken, onProgress) => this.pipeline.process(message, { signal, log: this.log, onToken, onProgress, lease: message.lease }),
      store.events,
      this.log,
      { concurrency: config.workers.concurrency, shutdownTimeoutMs: config.workers.shutdown_timeout, leaseMs: config.queue.lease, turns: this.channels.turns },
    );
    this.plugins = new PluginManager({
      config,
      registry: this.registry,
      log: this.log,
      version: PINCER_VERSION,
      bundledRoot: PINCER_ROOT,
      startedAt: this.startedAt,
      // What plugins may call (ctx.pincer): the store's queue and the model layer through its router and cache.
      host: {
        stats: () => this.store.admin.stats(),
        enqueue: (request) => this.store.work.enqueue(request),
        models: {
          generate: (request) => this.models.model.doGenerate(request),
          stream: (request) => this.models.model.doStream(request),
          embed: (request) => this.models.embeddings.doEmbed(request),
        },
        channels: { call: (plugin, method, args) => this.channels.threadCall(plugin, method, args) },
      },
      // A channel with a configured account starts its plugin; plugins.enabled need not list it.
      alsoEnabled: channelPlugins(config.channels),
      env,
    });
    this.declareParts(flushLog);
  }

  /**
   * The boot order. Plugins start before workers so the first message already meets every
   * enabled analyzer and command; the models warm up meanwhile and workers wait for them.
   */
  private declareParts(flushLog: () => void): void {
    const { config, store } = this;
    const lifecycle = this.lifecycle;
    lifecycle.add({ name: 'log', stop: flushLog });
    lifecycle.add({ name: 'storage', stop: () => store.close(), ready: async () => (await store.admin.ping(), 'ok') });
    lifecycle.add({ name: 'metrics', start: () => this.metrics.start(), stop: () => this.metrics.stop() });
    const wiring: Array<() => void> = [];
    lifecycle.add({
      name: 'wiring',
      start: () => {
        const providerOf = new Map(this.models.deployments.map((d) => [d.id, d.provider]));
        const memory = this.memory;
        if (memory) wiring.push(...this.wireMemory(memory));
        const knowledge = wireKnowledge(this.kb, { registry: this.registry, store: this.store.knowledge, config: config.kb, withModel: this.readsPrompt(), log: this.log });
        wiring.push(
          this.metrics.follow(store.events),
          this.models.router.onEvent((event) => this.metrics.routerEvent(event, (id) => providerOf.get(id) ?? 'unknown')),
          this.plugins.onEvent((event) => this.metrics.pluginEvent(event)),
          this.registry.addResponder(
            modelResponder({
              model: this.models.model,
              systemPrompt: this.models.systemPrompt,
              settings: this.models.settings,
              localAnalysis: this.models.readsAnalysis,
              ...this.localPending(),
              ...this.history(),
              ...(memory && this.readsPrompt() && { memory: (message) => memory.prompt(message) }),
              tools: () => knowledge.offered(this.registry.tools),
              budgets: agentBudgets(config.agent),
              onLoop: (run) => this.metrics.agentRun(run),
              journal: (message, lease) => storeJournal(store.agent, { id: message.id, lease, attempts: message.attempts }),
              policy: this.toolPolicy,
              approvals: this.approvals,
              ...(knowledge.context && { knowledge: knowledge.context }),
            }),
          ),
          ...knowledge.disposers,
          ...approvalCommands(this.approvals, this.toolPolicy).map((command) => this.registry.addCommand(command)),
        );
      },
      stop: () => {
        for (const dispose of wiring.splice(0).reverse()) dispose();
      },
    });
    let warming: Promise<void> = Promise.resolve();
    lifecycle.add({
      name: 'models',
      start: () => {
        warming = this.warmUpModels();
      },
      stop: () => this.models.close(),
      ready: () => this.modelsStatus,
    });
    // After the models, so it stops before them: a summary being made is aborted, not failed.
    lifecycle.add({ name: 'memory', stop: () => this.memory?.close() });
    // The first scan runs in the background: a large folder must not hold the server's start.
    lifecycle.add({
      name: 'knowledge',
      start: () => {
        void this.kb?.start().then(
          (report) => this.log.info({ event: 'kb.scanned', ...report }, `knowledge: ${report.indexed} indexed, ${report.unchanged} unchanged, ${report.failed} failed, ${report.removed} removed`),
          (err: unknown) => this.log.error({ err, event: 'kb.scan_failed' }, 'knowledge: the first scan of the knowledge folder failed'),
        );
      },
      stop: () => this.kb?.close(),
    });
    lifecycle.add({ name: 'plugins', start: () => this.plugins.start(), stop: () => this.plugins.close(), ready: () => 'ok' });
    // Transports and the outbox need their plugins; they stop before the plugins do.
    lifecycle.add({ name: 'channels', start: () => this.channels.start(), stop: () => this.channels.stop() });
    if (config.workers.enabled) {
      lifecycle.add({
        name: 'workers',
        start: async () => {
          await warming;
          this.workers.start();
        },
        stop: () => this.workers.stop(),
        ready: () => (this.workers.stats().running ? 'ok' : 'not running'),
      });
      if (config.workers.autoscale.enabled) {
        lifecycle.add({
          name: 'autoscaler',
          start: () => {
            this.autoscale = autoscaling(config.workers.autoscale, this.workers, this.metrics, this.log);
          },
          stop: () => this.autoscale?.stop(),
        });
      }
    } else {
      lifecycle.add({ name: 'workers', start: () => this.log.info({ event: 'workers.disabled' }, 'workers disabled (workers.enabled = false): this node only accepts messages') });
    }
    lifecycle.add({ name: 'retention', ...retention(store, config.queue.retention, this.log) });
    // Any node expires approvals and enqueues owed continuations (their keys dedupe).
    lifecycle.add({ name: 'approvals', start: () => this.approvals.start(approvalSweepInterval(config.tools.approval_timeout)), stop: () => this.approvals.stop() });
    let listening = false;
    lifecycle.add({
      name: 'http',
      start: async () => {
        await warming;
        await this.server.listen({ host: config.server.host, port: config.server.port });
        listening = true;
      },
      stop: () => this.server.close(),
      ready: () => (listening ? 'ok' : 'not listening'),
    });
  }

  /**
   * The built-in model's question for a tool's missing arguments is answered by the next
   * message: it gets the call waiting in the last reply, read only while some tool has examples.
   */
  private localPending(): { localPending?: ReturnType<typeof pendingToolReader> } {
    if (!this.models.readsAnalysis) return {};
    const active = () => [...this.registry.tools.values()].some((t) => (t.examples?.length ?? 0) > 0);
    return { localPending: pendingToolReader(this.store.messages, { active }) };
  }

  /** The built-in model reads only the message itself: history for it would be a query per message for nothing. */
  private history(): { history?: ReturnType<typeof conversationHistory> } {
    const { config } = this;
    const wanted = config.models.history_tokens > 0 && this.readsPrompt();
    return wanted ? { history: conversationHistory(this.store.messages, config.models.history_tokens) } : {};
  }

  /** Whether a language model answers (not only the built-in one, which reads the message alone). */
  private readsPrompt(): boolean {
    return this.models.deployments.some((d) => d.provider !== 'local');
  }

  /**
   * The /remember and /forget commands always; the memory tools only for a language model
   * (offering tools makes every answer a tool loop). Summaries are made once a reply this node
   * prompted is stored.
   */
  private wireMemory(memory: MemoryService): Array<() => void> {
    const tools = this.readsPrompt() && memory.config.tools ? memoryTools(memory) : [];
    return [
      ...memoryCommands(memory).map((command) => this.registry.addCommand(command)),
      ...tools.map((tool) => this.registry.addTool(tool)),
      this.store.events.subscribeLocal((event) => event.type === 'status' && memory.onStatus(event.id, event.status)),
    ];
  }

  /** Open the store and build every part; nothing is consumed or served until `start()`. */
  static async create(options: PincerOptions = {}): Promise<Pincer> {
    const config = options.config ?? loadConfig({ ...(options.env ? { env: options.env } : {}), ...options.load }).config;
    assertSafeBind(config.server.host, { tokens: config.auth.tokens, adminTokens: config.auth.admin_tokens });
    const logger = createLogger({ level: config.log.level, destination: options.logDestination });
    let instance: Pincer | undefined;
    let store: Store | undefined;
    try {
      // Opening may be asynchronous (PostgreSQL connects and migrates); the instance owns it after.
      store = await openStore(config, logger.logger);
      instance = new Pincer(config, logger.logger, logger.flush, options.env ?? process.env, store);
      instance.httpServer = await buildServer(instance.serverDeps());
      return instance;
    } catch (err) {
      if (instance) await instance.close();
      else {
        await store?.close().catch(() => undefined);
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
      store: this.store,
      plugins: this.plugins,
      models: this.models,
      metrics: this.metrics,
      version: PINCER_VERSION,
      channels: this.channels,
      approvals: this.approvals,
      ...(this.memory && { memory: this.memory }),
      ...(this.kb && { kb: this.kb }),
      readiness: () => this.readiness(),
      workerStats: () => this.workers.stats(),
      shutdownSignal: this.shutdown.signal,
    };
  }

  private workerView(): WorkerView {
    const stats = this.workers.stats();
    const view = { concurrency: stats.concurrency, busy: stats.inFlight };
    if (!this.autoscale) return { ...view, min: stats.concurrency, max: stats.concurrency, autoscale: false, lastChange: null };
    const auto = this.config.workers.autoscale;
    const last = this.autoscale.lastChange;
    return { ...view, min: auto.min, max: auto.max, autoscale: true, lastChange: last ? { at: last.at, from: last.from, to: last.to, reason: last.reason } : null };
  }

  /** Start every part in order. Resolves with the URL once the port is bound. */
  async start(): Promise<string> {
    await this.lifecycle.start();
    const url = this.url;
    this.log.info({ event: 'listening', url, version: PINCER_VERSION, store: this.store.backend, ms: Date.now() - this.startedAt }, `Pincer ${PINCER_VERSION} listening on ${url}`);
    return url;
  }

  get url(): string {
    const address = this.server.server.address() as AddressInfo | null;
    if (!address) throw new Error('Pincer is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async readiness(): Promise<ReadinessReport> {
    if (this.shutdown.signal.aborted) return { ready: false, reason: 'shutting down', checks: { shutdown: 'in progress' } };
    const parts = await this.lifecycle.readiness();
    const failing = Object.entries(parts).filter(([, v]) => v !== 'ok');
    // Chat accounts are reported, never a reason to take the node out of service: its API
    // and the other accounts still work.
    const checks = { ...parts, ...this.channels.readiness(this.config.channels.defaults.poll_stale_after) };
    return failing.length === 0 ? { ready: true, checks } : { ready: false, reason: failing.map(([k, v]) => `${k}: ${v}`).join('; '), checks };
  }

  /**
   * Stop in reverse order of start: HTTP (no new messages; waiting clients are answered),
   * workers (in-flight work finishes or is released), plugins, models, the store (pending
   * commits flushed), then the log. Safe to call more than once.
   */
  close(): Promise<void> {
    if (!this.shutdown.signal.aborted) {
      this.shutdown.abort();
      this.log.info({ event: 'shutdown' }, 'shutting down');
    }
    return this.lifecycle.stop();
  }

  private async warmUpModels(): Promise<void> {
    const started = Date.now();
    const failures = await this.models.warmUp(this.config.models.router.timeout);
    for (const f of failures) this.log.warn({ event: 'model.warmup_failed', deployment: f.id, error: f.error }, `model deployment ${f.id} failed to warm up: ${f.error}`);
    const usable = this.models.deployments.length - failures.length;
    this.modelsStatus = usable > 0 ? 'ok' : `no model deployment is usable: ${failures.map((f) => `${f.id}: ${f.error}`).join('; ')}`;
    this.log.info({ event: 'model.warmup', ms: Date.now() - started, usable, failed: failures.length }, `models warmed up in ${Date.now() - started} ms (${usable} of ${this.models.deployments.length} usable)`);
  }
}
