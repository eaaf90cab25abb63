import type { DeploymentConfig, PincerConfig } from '../config/schema.js';
import { PincerError, errorMessage } from '../errors.js';
import { ModelError } from './errors.js';
import { CachedModel } from './cache.js';
import { LocalModel } from './local/local-model.js';
import { createAnthropicModel } from './providers/anthropic.js';
import { createGeminiModel } from './providers/gemini.js';
import { createOllamaModel, OLLAMA_BASE_URL } from './providers/ollama.js';
import { createOpenAIModel } from './providers/openai.js';
import { ModelRouter, type Deployment } from './router.js';
import type { LanguageModel } from './types.js';

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
  /** What the responder calls: the router, behind the response cache. */
  model: LanguageModel;
  router: ModelRouter;
  deployments: DeploymentView[];
  systemPrompt: string;
  /**
   * Warm every deployment that can be warmed (S3.1). Resolves with the failures; the layer is
   * usable when at least one deployment warmed (or needs no warming).
   */
  warmUp(timeoutMs: number): Promise<Array<{ id: string; error: string }>>;
  /** Ask each deployment (or one) for a tiny reply, bypassing the router: is it usable? */
  check(id?: string, timeoutMs?: number): Promise<DeploymentCheck[]>;
  close(): Promise<void>;
}

/**
 * Turns configuration into the model layer. Mistakes (a missing key, an unsupported
 * MODEL_PATH) are errors here, at start, naming the setting: never a hang at first use.
 */
export function buildModelLayer(config: PincerConfig, env: NodeJS.ProcessEnv, version: string): ModelLayer {
  if (env.MODEL_PATH) {
    throw new PincerError(
      'MODEL_CONFIG_INVALID',
      `MODEL_PATH=${env.MODEL_PATH}: local GGUF models (node-llama-cpp) are not supported by this version of Pincer yet; unset MODEL_PATH to use the built-in model, or serve the file with an OpenAI-compatible server (llama.cpp's llama-server) and configure models.default with provider openai-compatible`,
    );
  }
  const configured = config.models.default.length > 0;
  const entries = configured ? config.models.default.map((d, i) => ({ d, source: `models.default[${i}]` })) : fromEnvironment(env);
  const closers: Array<() => Promise<void>> = [];
  const deployments: Deployment[] = [];
  const views: DeploymentView[] = [];
  const ids = new Set<string>();
  for (const { d, source } of entries) {
    const model = create(d, source, env, config, version);
    if ('close' in model && typeof model.close === 'function') closers.push(() => (model.close as () => Promise<void>)());
    let id = d.id ?? `${d.provider}${d.model ? `:${d.model}` : ''}`;
    for (let n = 2; ids.has(id); n++) id = `${d.id ?? d.provider}#${n}`;
    ids.add(id);
    deployments.push({ id, model, priority: d.priority, weight: d.weight, ...(d.cost ? { cost: d.cost } : {}) });
    views.push({ id, provider: d.provider, model: model.id, priority: d.priority, weight: d.weight, source });
  }
  const r = config.models.router;
  const router = new ModelRouter('default', deployments, {
    attemptsPerDeployment: r.attempts_per_deployment,
    maxAttempts: r.max_attempts,
    backoffMs: r.backoff,
    maxBackoffMs: r.max_backoff,
    maxRetryAfterMs: r.max_retry_after,
    cooldownAfter: r.cooldown_after,
    cooldownMs: r.cooldown,
    timeouts: { totalMs: r.timeout, firstTokenMs: r.first_token_timeout, chunkMs: r.chunk_timeout },
  });
  const cache = config.models.cache;
  return {
    model: cache.max_entries > 0 ? new CachedModel(router, { maxEntries: cache.max_entries, ttlMs: cache.ttl }) : router,
    router,
    deployments: views,
    systemPrompt: config.models.system_prompt.replace(/\{bot\}/g, config.bot.name),
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
      if (chosen.length === 0) throw new PincerError('MODEL_NOT_FOUND', `no deployment "${id}"; deployments: ${deployments.map((d) => d.id).join(', ')}`, 404);
      return Promise.all(chosen.map((d) => checkDeployment(d, timeoutMs)));
    },
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
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

/** Without models.default: every vendor whose usual variable is set, in this order, else the built-in model. */
function fromEnvironment(env: NodeJS.ProcessEnv): Array<{ d: DeploymentConfig; source: string }> {
  const out: Array<{ d: DeploymentConfig; source: string }> = [];
  const add = (provider: DeploymentConfig['provider'], source: string, extra: Partial<DeploymentConfig> = {}) =>
    out.push({ d: { provider, priority: out.length, weight: 1, ...extra }, source });
  if (env.OPENAI_API_KEY) add('openai', 'OPENAI_API_KEY');
  if (env.ANTHROPIC_API_KEY) add('anthropic', 'ANTHROPIC_API_KEY');
  if (env.GEMINI_API_KEY) add('gemini', 'GEMINI_API_KEY');
  if (env.OLLAMA_HOST) add('ollama', 'OLLAMA_HOST');
  if (out.length === 0) add('local', 'default (no model configured)');
  return out;
}

function create(d: DeploymentConfig, source: string, env: NodeJS.ProcessEnv, config: PincerConfig, version: string): LanguageModel {
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
  switch (d.provider) {
    case 'local':
      return new LocalModel({ botName: config.bot.name, version });
    case 'openai':
      return createOpenAIModel({ provider: 'openai', baseUrl: d.base_url ?? 'https://api.openai.com/v1', apiKey: needKey(), model: model(env.OPENAI_MODEL ?? DEFAULT_MODELS.openai) });
    case 'openai-compatible':
      if (!d.base_url) throw new PincerError('MODEL_CONFIG_INVALID', `${source}: provider openai-compatible needs base_url, e.g. http://127.0.0.1:8080/v1`);
      return createOpenAIModel({ provider: 'openai-compatible', baseUrl: d.base_url, model: model(), ...(apiKey ? { apiKey } : {}) });
    case 'anthropic':
      return createAnthropicModel({ apiKey: needKey(), model: model(env.ANTHROPIC_MODEL ?? DEFAULT_MODELS.anthropic), ...(d.base_url ? { baseUrl: d.base_url } : {}) });
    case 'gemini':
      return createGeminiModel({ apiKey: needKey(), model: model(env.GEMINI_MODEL ?? DEFAULT_MODELS.gemini), ...(d.base_url ? { baseUrl: d.base_url } : {}) });
    case 'ollama': {
      const host = d.base_url ?? env.OLLAMA_HOST ?? OLLAMA_BASE_URL;
      return createOllamaModel({ baseUrl: /^https?:\/\//.test(host) ? host : `http://${host}`, model: model(env.OLLAMA_MODEL ?? DEFAULT_MODELS.ollama), ...(d.api_key ? { apiKey: d.api_key } : {}) });
    }
  }
}
