import { errorMessage } from '../errors.js';
import type { JsonObject } from '../json.js';
import { Listeners } from '../util/listeners.js';
import { ModelError, type ModelErrorClass } from './errors.js';
import type { EmbeddingModel, EmbedRequest, EmbedResult, GenerateRequest, GenerateResult, LanguageModel, StreamPart, Usage } from './types.js';

/**
 * Reliability over providers, after LiteLLM's router: fallback chains, retries with backoff
 * that honour Retry-After, cooldown of failing deployments, weighted balancing and timeouts.
 * Providers never retry; this is the one retry budget.
 */

/** What a router can route: chat models, or embedding models. */
type RoutedModel = Pick<LanguageModel, 'id' | 'provider'>;

export interface Deployment<M extends RoutedModel = LanguageModel> {
  /** Unique within the router, e.g. "openai-main". */
  id: string;
  model: M;
  /** Lower tiers are tried first; deployments of one tier share load by weight. */
  priority?: number;
  weight?: number;
  /** USD per million tokens, for cost accounting. */
  cost?: { input: number; output: number };
}

export interface RouterOptions {
  /** Attempts on one deployment before falling back to the next (1 = no retry). */
  attemptsPerDeployment: number;
  /** Attempts in all, across deployments: the whole call's retry budget. */
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** A Retry-After longer than this is not waited for: the router falls back instead. */
  maxRetryAfterMs: number;
  /** Consecutive failures that put a deployment in cooldown, and for how long. */
  cooldownAfter: number;
  cooldownMs: number;
  timeouts: { totalMs: number; firstTokenMs: number; chunkMs: number };
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Where a throwing event listener (metrics, say) is reported; it never fails the model call. */
  onListenerError?: (err: unknown) => void;
}

export interface DeploymentStats {
  id: string;
  provider: string;
  calls: number;
  failures: number;
  consecutiveFailures: number;
  coolingDownUntil: number | null;
  usage: Usage;
  costUsd: number;
}

export type RouterEvent =
  | { type: 'attempt'; deployment: string; ok: boolean; ms: number; errorClass?: ModelErrorClass }
  | { type: 'cooldown'; deployment: string; untilMs: number; reason: string };

/** Failures worth another try on the same deployment. */
const RETRYABLE: ReadonlySet<ModelErrorClass> = new Set(['rate_limit', 'server', 'timeout']);

interface State<M extends RoutedModel> {
  deployment: Deployment<M>;
  stats: DeploymentStats;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new ModelError('aborted', 'router', 'aborted while waiting to retry'));
    }, { once: true });
  });

/** The reliability half, shared by chat and embedding routers. */
abstract class DeploymentRouter<M extends RoutedModel> {
  readonly provider = 'router';
  protected readonly states: Array<State<M>>;
  private readonly listeners: Listeners<[RouterEvent]>;
  protected readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    readonly id: string,
    deployments: ReadonlyArray<Deployment<M>>,
    protected readonly options: RouterOptions,
  ) {
    if (deployments.length === 0) throw new Error(`model alias "${id}" has no deployments`);
    this.states = deployments.map((deployment) => ({
      deployment,
      stats: { id: deployment.id, provider: deployment.model.provider, calls: 0, failures: 0, consecutiveFailures: 0, coolingDownUntil: null, usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 },
    }));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? defaultSleep;
    this.listeners = new Listeners(options.onListenerError ?? ((err) => process.emitWarning(`a listener of model router "${id}" threw: ${errorMessage(err)}`)));
  }

  onEvent(listener: (event: RouterEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  stats(): DeploymentStats[] {
    return this.states.map((s) => ({ ...s.stats, usage: { ...s.stats.usage } }));
  }

  /** Runs `call` on deployments in order until one succeeds, within one retry budget and deadline. */
  protected async withFallback<T>(
    callerSignal: AbortSignal | undefined,
    call: (state: State<M>, signal: AbortSignal, controller: AbortController, deadline: number) => Promise<T>,
    /** A stream is not a success until its finish part: its caller records the outcome (settle). */
    deferSuccess = false,
  ): Promise<T> {
    const deadline = this.now() + this.options.timeouts.totalMs;
    let attempts = 0;
    let last: ModelError | undefined;
    for (const state of this.order()) {
      for (let onThis = 0; onThis < this.options.attemptsPerDeployment && attempts < this.options.maxAttempts; onThis++) {
        if (this.now() >= deadline) throw last ?? new ModelError('timeout', this.id, `no answer within ${this.options.timeouts.totalMs} ms`);
        attempts++;
        const controller = new AbortController();
        const onAbort = () => controller.abort(callerSignal?.reason);
        callerSignal?.addEventListener('abort', onAbort, { once: true });
        const totalTimer = setTimeout(() => controller.abort(new ModelError('timeout', state.deployment.model.provider, `no answer within ${this.options.timeouts.totalMs} ms`)), deadline - this.now());
        const started = this.now();
        try {
          const value = await call(state, controller.signal, controller, deadline);
          if (!deferSuccess) this.succeeded(state, started);
          return value;
        } catch (err) {
          if (callerSignal?.aborted) throw new ModelError('aborted', this.id, 'the caller aborted the call');
          const error = this.classify(err, state, controller.signal);
          last = error;
          this.failed(state, started, error);
          if (!RETRYABLE.has(error.errorClass) || onThis + 1 >= this.options.attemptsPerDeployment) break;
          const wait = error.retryAfterMs ?? this.backoff(onThis);
          // A long Retry-After, or a wait past the deadline, is better spent on the next deployment.
          if (wait > this.options.maxRetryAfterMs || this.now() + wait >= deadline) break;
          await this.sleep(wait, callerSignal);
        } finally {
          clearTimeout(totalTimer);
          callerSignal?.removeEventListener('abort', onAbort);
        }
      }
      if (attempts >= this.options.maxAttempts) break;
    }
    throw last ?? new ModelError('server', this.id, 'every deployment is cooling down');
  }

  /** Healthy deployments by tier, weighted-shuffled within a tier; cooling ones last. */
  private order(): Array<State<M>> {
    const now = this.now();
    const healthy = this.states.filter((s) => s.stats.coolingDownUntil === null || s.stats.coolingDownUntil <= now);
    const cooling = this.states.filter((s) => !healthy.includes(s)).sort((a, b) => (a.stats.coolingDownUntil ?? 0) - (b.stats.coolingDownUntil ?? 0));
    const tiers = new Map<number, Array<State<M>>>();
    for (const s of healthy) {
      const tier = s.deployment.priority ?? 0;
      tiers.set(tier, [...(tiers.get(tier) ?? []), s]);
    }
    const ordered = [...tiers.entries()].sort(([a], [b]) => a - b).flatMap(([, states]) => this.weightedShuffle(states));
    return [...ordered, ...cooling];
  }

  private weightedShuffle(states: Array<State<M>>): Array<State<M>> {
    const pool = [...states];
    const out: Array<State<M>> = [];
    while (pool.length > 1) {
      const total = pool.reduce((sum, s) => sum + (s.deployment.weight ?? 1), 0);
      let pick = this.random() * total;
      let index = 0;
      for (; index < pool.length - 1; index++) {
        pick -= pool[index]?.deployment.weight ?? 1;
        if (pick < 0) break;
      }
      out.push(...pool.splice(index, 1));
    }
    return [...out, ...pool];
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** attempt);
    return Math.round(base * (0.8 + 0.4 * this.random()));
  }

  protected classify(err: unknown, state: State<M>, signal: AbortSignal): ModelError {
    if (err instanceof ModelError) return err;
    if (signal.aborted && signal.reason instanceof ModelError) return signal.reason;
    return new ModelError('server', state.deployment.model.provider, err instanceof Error ? err.message : String(err));
  }

  protected succeeded(state: State<M>, started: number): void {
    state.stats.calls++;
    state.stats.consecutiveFailures = 0;
    state.stats.coolingDownUntil = null;
    this.emit({ type: 'attempt', deployment: state.deployment.id, ok: true, ms: this.now() - started });
  }

  protected failed(state: State<M>, started: number, error: ModelError): void {
    state.stats.calls++;
    state.stats.failures++;
    state.stats.consecutiveFailures++;
    this.emit({ type: 'attempt', deployment: state.deployment.id, ok: false, ms: this.now() - started, errorClass: error.errorClass });
    const rateLimited = error.errorClass === 'rate_limit' && error.retryAfterMs !== undefined && error.retryAfterMs > this.options.maxRetryAfterMs;
    if (state.stats.consecutiveFailures >= this.options.cooldownAfter || rateLimited || error.errorClass === 'auth') {
      const until = this.now() + (rateLimited ? (error.retryAfterMs as number) : this.options.cooldownMs);
      state.stats.coolingDownUntil = until;
      this.emit({ type: 'cooldown', deployment: state.deployment.id, untilMs: until, reason: `${error.errorClass}: ${error.message}` });
    }
  }

  protected account(state: State<M>, usage: Usage): void {
    state.stats.usage.inputTokens += usage.inputTokens;
    state.stats.usage.outputTokens += usage.outputTokens;
    const cost = state.deployment.cost;
    if (cost) state.stats.costUsd += (usage.inputTokens * cost.input + usage.outputTokens * cost.output) / 1_000_000;
  }

  private emit(event: RouterEvent): void {
    this.listeners.emit(event);
  }
}

/** Routes chat calls over language-model deployments. */
export class ModelRouter extends DeploymentRouter<LanguageModel> implements LanguageModel {
  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    return this.withFallback(request.signal, async (state, signal) => {
      const result = await state.deployment.model.doGenerate({ ...request, signal });
      this.account(state, result.usage);
      return { ...result, data: this.answeredBy(state, result.data) };
    });
  }

  /**
   * A stream falls back or retries only until its first token: after that, text has reached
   * the client, and a failure is the caller's error. A stream without its finish part is an
   * error too.
   */
  async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    let pending: { parts: AsyncIterator<StreamPart>; first: StreamPart; controller: AbortController; state: State<LanguageModel>; deadline: number; started: number } | undefined;
    pending = await this.withFallback(
      request.signal,
      async (state, signal, controller, deadline) => {
        const started = this.now();
        const parts = state.deployment.model.doStream({ ...request, signal })[Symbol.asyncIterator]();
        const first = await this.next(parts, controller, Math.min(this.options.timeouts.firstTokenMs, deadline - this.now()), state, 'the first token');
        if (first.done) throw new ModelError('bad_response', state.deployment.model.provider, 'the stream ended before its final part');
        return { parts, first: first.value, controller, state, deadline, started };
      },
      true,
    );
    const { parts, controller, state, deadline, started } = pending;
    let part: StreamPart = pending.first;
    pending = undefined;
    // The caller can still abort after the first token, and a consumer that stops reading
    // early must not leave the provider's request open.
    const onAbort = () => controller.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      for (;;) {
        if (part.type === 'finish') {
          this.account(state, part.usage);
          this.succeeded(state, started);
          finished = true;
          yield { ...part, data: this.answeredBy(state, part.data) };
          return;
        }
        yield part;
        let next: IteratorResult<StreamPart>;
        try {
          next = await this.next(parts, controller, Math.min(this.options.timeouts.chunkMs, deadline - this.now()), state, 'the next chunk');
          if (next.done) throw new ModelError('bad_response', state.deployment.model.provider, 'the stream ended before its final part');
        } catch (err) {
          if (request.signal?.aborted) throw new ModelError('aborted', this.id, 'the caller aborted the call');
          // Too late to fall back (text reached the caller), but the deployment's record must
          // show it, or one that breaks every stream mid-way would stay first in line.
          const error = this.classify(err, state, controller.signal);
          this.failed(state, started, error);
          throw error;
        }
        part = next.value;
      }
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
      if (!finished) controller.abort(new ModelError('aborted', this.id, 'the stream was not read to its end'));
    }
  }

  /** Which deployment and model answered, kept with the reply (the model's own data wins). */
  private answeredBy(state: State<LanguageModel>, data: JsonObject | undefined): JsonObject {
    return { deployment: state.deployment.id, model: state.deployment.model.id, ...data };
  }

  private async next(parts: AsyncIterator<StreamPart>, controller: AbortController, ms: number, state: State<LanguageModel>, what: string): Promise<IteratorResult<StreamPart>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ModelError('timeout', state.deployment.model.provider, `no ${what} within ${Math.max(0, Math.round(ms))} ms`);
        controller.abort(err);
        reject(err);
      }, Math.max(0, ms));
    });
    try {
      return await Promise.race([parts.next(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Routes embedding calls over embedding-model deployments, with the same retries and cooldowns. */
export class EmbeddingRouter extends DeploymentRouter<EmbeddingModel> implements EmbeddingModel {
  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    return this.withFallback(request.signal, async (state, signal) => {
      const result = await state.deployment.model.doEmbed({ ...request, signal });
      this.account(state, { inputTokens: result.usage.inputTokens, outputTokens: 0 });
      return result;
    });
  }
}
