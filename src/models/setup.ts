import type { DeploymentConfig, PincerConfig } from '../config/schema.js';
import { PincerError, errorMessage } from '../errors.js';
import { ModelError } from './errors.js';
import { responseCache, type CacheStats } from './cache.js';
import { LocalModel } from './local/local-model.js';
import { createAnthropicModel } from './providers/anthropic.js';
import { createGeminiModel } from './providers/gemini.js';
import { createLlamaCppModel } from './providers/llama-cpp/model.js';
import { createOllamaModel, OLLAMA_BASE_URL } from './providers/ollama.js';
import { createOpenAIModel, OPENAI_BASE_URL } from './providers/openai.js';
import { EmbeddingRouter, ModelRouter, type Deployment, type RouterOptions } from './router.js';
import { wrapLanguageModel } from './middleware.js';
import type { EmbeddingModel, GenerateRequest, LanguageModel } from './types.js';

/** Models used when a vendor key is set but no model is named. */
const DEFAULT_MODELS: Record<'openai' | 'anthropic' | 'gemini' | 'ollama', string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  gemini: 'gemini-2.0-flash',
  ollama: 'llama3.2',
};

const KEY_VARIABLES: Partial<Record<DeploymentConfig['provider'], string>> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  gemini: 'GEMINI_API_KEY',
};

export interface DeploymentView {
  id: string;
  provider: string;
  model: string;
  priority: number;
  weight: number;
  /** Where this deployment came from: the config file, or the environment variable that made it. */
  source: string;
}

export interface DeploymentCheck {
  id: string;
  ok: boolean;
  ms: number;
  /** The start of the reply, when it answered. */
  reply?: string;
  error?: { code: string; message: string };
}

export interface ModelLayer {
  /** What the responder calls: the router, wrapped in the model middleware (the response cache). */
  model: LanguageModel;
  router: ModelRouter;
  deployments: DeploymentView[];
  systemPrompt: string;
  /** models.temperature and models.max_tokens, as request settings (absent when unset). */
  settings: Pick<GenerateRequest, 'temperature' | 'maxTokens'>;
  /** Whether a deployment is the built-in model, the one model that reads the pipeline's analysis. */
  readsAnalysis: boolean;
  /** The response cache's hits and misses so far (zeros when it is off). */
  cacheStats(): CacheStats;
  /**
   * Warm every deployment that can be warmed (S3.1). Resolves with the failures; the layer is
   * usable when at least one deployment warmed (or needs no warming).
   */
  warmUp(timeoutMs: number): Promise<Array<{ id: string; error: string }>>;
  /** What POST /v1/embeddings calls, and its deployments. */
  embeddings: EmbeddingRouter;
  embeddingDeployments: DeploymentView[];
  /** Ask each deployment (or one) for a tiny reply, bypassing the router: is it usable? */
  check(id?: string, timeoutMs?: number): Promise<DeploymentCheck[]>;
  close(): Promise<void>;
}

/**
 * Turns configuration into the model layer. Mistakes (a missing key, a MODEL_PATH that is no
 * .gguf file) are errors here, at start, naming the setting: never a hang at first use.
 */
export function buildModelLayer(config: PincerConfig, env: NodeJS.ProcessEnv, version: string): ModelLayer {
  const configured = config.models.default.length > 0;
  const entries = configured ? config.models.default.map((d, i) => ({ d, source: `models.default[${i}]` })) : fromEnvironment(env);
  const closers: Array<() => Promise<void>> = [];
  const deployments: Deployment[] = [];
  const views: DeploymentView[] = [];
  const closing = new Set<object>();
  /** Adds a deployment with an id unique in its list; closes each model instance once. */
  const add = <M extends { id: string; provider: string }>(d: DeploymentConfig, source: string, model: NoInfer<M>, into: Array<Deployment<M>>, views: DeploymentView[]) => {
    const close = (model as { close?: () => Promise<void> }).close;
    if (close && !closing.has(model)) {
      closing.add(model);
      closers.push(() => close.call(model));
    }
    const ids = new Set(into.map((x) => x.id));
    let id = d.id ?? `${d.provider}${d.model ? `:${d.model}` : ''}`;
    for (let n = 2; ids.has(id); n++) id = `${d.id ?? d.provider}#${n}`;
    into.push({ id, model, priority: d.priority, weight: d.weight, ...(d.cost ? { cost: d.cost } : {}) });
    views.push({ id, provider: d.provider, model: model.id, priority: d.priority, weight: d.weight, source });
  };
  for (const { d, source } of entries) add(d, source, create(d, source, env, config, version), deployments, views);

  // Embeddings: as configured; else the chat deployments that embed too (a GGUF file, the
  // built-in model: the same instance, never loaded twice), else the built-in embedding.
  const embeddingDeployments: Array<Deployment<EmbeddingModel>> = [];
  const embeddingViews: DeploymentView[] = [];
  if (config.models.embeddings.length > 0) {
    config.models.embeddings.forEach((d, i) => add(d, `models.embeddings[${i}]`, createEmbedding(d, `models.embeddings[${i}]`, env, config, version), embeddingDeployments, embeddingViews));
  } else {
    entries.forEach(({ d, source }, i) => {
      const model = deployments[i]?.model;
      // Vendor chat models are not embedding models (gpt-4o is not text-embedding-3-small).
      if (model && (d.provider === 'local' || d.provider === 'llama-cpp') && isEmbeddingModel(model)) add(d, source, model, embeddingDeployments, embeddingViews);
    });
    if (embeddingDeployments.length === 0) add({ provider: 'local', priority: 0, weight: 1 }, 'default (built-in embedding)', new LocalModel({ botName: config.bot.name, version }), embeddingDeployments, embeddingViews);
  }

  const routerOptions = routerOptionsFrom(config);
  const router = new ModelRouter('default', deployments, routerOptions);
  const embeddings = new EmbeddingRouter('embeddings', embeddingDeployments, routerOptions);
  const { cache: cacheConfig, temperature, max_tokens: maxTokens } = config.models;
  const cache = cacheConfig.max_entries > 0 ? responseCache({ maxEntries: cacheConfig.max_entries, ttlMs: cacheConfig.ttl }) : undefined;
  return {
    model: wrapLanguageModel(router, cache ? [cache] : []),
    router,
    deployments: views,
    embeddings,
    embeddingDeployments: embeddingViews,
    systemPrompt: config.models.system_prompt.replace(/\{bot\}/g, config.bot.name),
    settings: { ...(temperature !== undefined && { temperature }), ...(maxTokens !== undefined && { maxTokens }) },
    readsAnalysis: entries.some(({ d }) => d.provider === 'local'),
    cacheStats: () => cache?.stats() ?? { hits: 0, misses: 0, size: 0 },
    warmUp: async (timeoutMs) => {
      const results = await Promise.all(
        deployments.map(async (d) => {
          if (!d.model.warmUp) return undefined;
          try {
            await d.model.warmUp(AbortSignal.timeout(timeoutMs));
            return undefined;
          } catch (err) {
            return { id: d.id, error: errorMessage(err) };
          }
        }),
      );
      return results.filter((r): r is { id: string; error: string } => r !== undefined);
    },
    check: async (id, timeoutMs = 15_000) => {
      const chosen = deployments.filter((d) => id === undefined || d.id === id);
      if (chosen.length === 0) throw new PincerError('MODEL_NOT_FOUND', `no deployment "${id}"; deployments: ${deployments.map((d) => d.id).join(', ')}`);
      return Promise.all(chosen.map((d) => checkDeployment(d, timeoutMs)));
    },
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}

function routerOptionsFrom(config: PincerConfig): RouterOptions {
  const r = config.models.router;
  return {
    attemptsPerDeployment: r.attempts_per_deployment,
    maxAttempts: r.max_attempts,
    backoffMs: r.backoff,
    maxBackoffMs: r.max_backoff,
    maxRetryAfterMs: r.max_retry_after,
    cooldownAfter: r.cooldown_after,
    cooldownMs: r.cooldown,
    timeouts: { totalMs: r.timeout, firstTokenMs: r.first_token_timeout, chunkMs: r.chunk_timeout },
  };
}

function isEmbeddingModel(model: object): model is EmbeddingModel {
  return typeof (model as Partial<EmbeddingModel>).doEmbed === 'function';
}

async function checkDeployment(d: Deployment, timeoutMs: number): Promise<DeploymentCheck> {
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const result = await d.model.doGenerate({ messages: [{ role: 'user', content: 'Reply with the single word OK.' }], maxTokens: 8, temperature: 0, signal });
    return { id: d.id, ok: true, ms: Math.round(performance.now() - started), reply: result.text.slice(0, 80) };
  } catch (err) {
    const code = err instanceof ModelError ? err.code : signal.aborted ? 'MODEL_TIMEOUT' : 'MODEL_SERVER';
    const message = signal.aborted && !(err instanceof ModelError && err.errorClass !== 'aborted') ? `no answer within ${timeoutMs} ms` : errorMessage(err);
    return { id: d.id, ok: false, ms: Math.round(performance.now() - started), error: { code, message } };
  }
}

/**
 * Without models.default: a local GGUF file (MODEL_PATH) first, then every vendor whose usual
 * variable is set, in this order, else the built-in model.
 */
function fromEnvironment(env: NodeJS.ProcessEnv): Array<{ d: DeploymentConfig; source: string }> {
  const out: Array<{ d: DeploymentConfig; source: string }> = [];
  const add = (provider: DeploymentConfig['provider'], source: string, extra: Partial<DeploymentConfig> = {}) =>
    out.push({ d: { provider, priority: out.length, weight: 1, ...extra }, source });
  if (env.MODEL_PATH) add('llama-cpp', 'MODEL_PATH', { path: env.MODEL_PATH });
  if (env.OPENAI_API_KEY) add('openai', 'OPENAI_API_KEY');
  if (env.ANTHROPIC_API_KEY) add('anthropic', 'ANTHROPIC_API_KEY');
  if (env.GEMINI_API_KEY) add('gemini', 'GEMINI_API_KEY');
  if (env.OLLAMA_HOST) add('ollama', 'OLLAMA_HOST');
  if (out.length === 0) add('local', 'default (no model configured)');
  return out;
}

/** How a deployment's key, model name and endpoint are found, with errors naming the setting. */
function settingsOf(d: DeploymentConfig, source: string, env: NodeJS.ProcessEnv) {
  const keyVariable = KEY_VARIABLES[d.provider];
  const apiKey = d.api_key ?? (keyVariable ? env[keyVariable] : undefined) ?? env.API_KEY;
  const needKey = (): string => {
    if (apiKey) return apiKey;
    throw new PincerError('MODEL_CONFIG_INVALID', `${source}: provider ${d.provider} needs an API key: set api_key, ${keyVariable ?? 'API_KEY'} or API_KEY`);
  };
  const model = (fallback?: string): string => {
    const name = d.model ?? fallback;
    if (!name) throw new PincerError('MODEL_CONFIG_INVALID', `${source}: provider ${d.provider} needs a model name (model: ...)`);
    return name;
  };
  const baseUrl = (): string => {
    if (!d.base_url) throw new PincerError('MODEL_CONFIG_INVALID', `${source}: provider openai-compatible needs base_url, e.g. http://127.0.0.1:8080/v1`);
    return d.base_url;
  };
  const ollamaUrl = (): string => {
    const host = d.base_url ?? env.OLLAMA_HOST ?? OLLAMA_BASE_URL;
    return /^https?:\/\//.test(host) ? host : `http://${host}`;
  };
  const gguf = () => {
    // The environment's MODEL_PATH is named as itself; a configured one by its key.
    const setting = source === 'MODEL_PATH' ? source : `${source}.path`;
    if (!d.path) throw new PincerError('MODEL_CONFIG_INVALID', `${setting}: provider llama-cpp needs path, the .gguf file to run`);
    return createLlamaCppModel({ path: d.path, setting, ...(d.context_size ? { contextSize: d.context_size } : {}) });
  };
  return { apiKey, needKey, model, baseUrl, ollamaUrl, gguf };
}

function create(d: DeploymentConfig, source: string, env: NodeJS.ProcessEnv, config: PincerConfig, version: string): LanguageModel {
  const { apiKey, needKey, model, baseUrl, ollamaUrl, gguf } = settingsOf(d, source, env);
  switch (d.provider) {
    case 'local':
      return new LocalModel({ botName: config.bot.name, version });
    case 'openai':
      return createOpenAIModel({ provider: 'openai', baseUrl: d.base_url ?? OPENAI_BASE_URL, apiKey: needKey(), model: model(env.OPENAI_MODEL ?? DEFAULT_MODELS.openai) });
    case 'openai-compatible':
      return createOpenAIModel({ provider: 'openai-compatible', baseUrl: baseUrl(), model: model(), ...(apiKey ? { apiKey } : {}) });
    case 'anthropic':
      return createAnthropicModel({ apiKey: needKey(), model: model(env.ANTHROPIC_MODEL ?? DEFAULT_MODELS.anthropic), ...(d.base_url ? { baseUrl: d.base_url } : {}) });
    case 'gemini':
      return createGeminiModel({ apiKey: needKey(), model: model(env.GEMINI_MODEL ?? DEFAULT_MODELS.gemini), ...(d.base_url ? { baseUrl: d.base_url } : {}) });
    case 'ollama':
      return createOllamaModel({ baseUrl: ollamaUrl(), model: model(env.OLLAMA_MODEL ?? DEFAULT_MODELS.ollama), ...(d.api_key ? { apiKey: d.api_key } : {}) });
    case 'llama-cpp':
      return gguf();
  }
}

/** Embedding models are their own models at every vendor: text-embedding-3-small, not gpt-4o. */
const DEFAULT_EMBEDDING_MODELS = { openai: 'text-embedding-3-small', gemini: 'text-embedding-004', ollama: 'nomic-embed-text' };

function createEmbedding(d: DeploymentConfig, source: string, env: NodeJS.ProcessEnv, config: PincerConfig, version: string): EmbeddingModel {
  const { apiKey, needKey, model, baseUrl, ollamaUrl, gguf } = settingsOf(d, source, env);
  switch (d.provider) {
    case 'local':
      return new LocalModel({ botName: config.bot.name, version });
    case 'openai':
      return createOpenAIModel({ provider: 'openai', baseUrl: d.base_url ?? OPENAI_BASE_URL, apiKey: needKey(), model: model(DEFAULT_EMBEDDING_MODELS.openai) });
    case 'openai-compatible':
      return createOpenAIModel({ provider: 'openai-compatible', baseUrl: baseUrl(), model: model(), ...(apiKey ? { apiKey } : {}) });
    case 'gemini':
      return createGeminiModel({ apiKey: needKey(), model: model(DEFAULT_EMBEDDING_MODELS.gemini), ...(d.base_url ? { baseUrl: d.base_url } : {}) });
    case 'ollama':
      return createOllamaModel({ baseUrl: ollamaUrl(), model: model(DEFAULT_EMBEDDING_MODELS.ollama), ...(d.api_key ? { apiKey: d.api_key } : {}) });
    case 'llama-cpp':
      return gguf();
    case 'anthropic':
      throw new PincerError('MODEL_CONFIG_INVALID', `${source}: Anthropic has no embeddings API; use openai, gemini, ollama, llama-cpp or local`);
  }
}
