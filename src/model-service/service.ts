import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { PincerConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { LocalModel } from '../models/local/local-model.js';
import { createLlamaCppModel } from '../models/providers/llama-cpp/model.js';
import { checkModelPath } from '../models/providers/llama-cpp/gguf-header.js';
import { assertSafeBind } from '../server/auth.js';
import { buildModelServiceApp, type ServedModel } from './app.js';

/**
 * `pincer model serve` (S2.3): the models that run inside a process (the built-in model, and
 * a GGUF file when MODEL_PATH names one) as an OpenAI-compatible service of their own, so a
 * deployment can give the model its own container and resource limits while bot nodes reach
 * it through the `openai-compatible` provider.
 */

export interface ModelServiceOptions {
  config: PincerConfig;
  env: NodeJS.ProcessEnv;
  log: FastifyBaseLogger;
  version: string;
  /** Overrides of config.model_service.host/port (the CLI's flags). */
  host?: string;
  port?: number;
}

export interface ModelService {
  app: FastifyInstance;
  /** `http://host:port`, once listening. */
  url: string;
  models: readonly ServedModel[];
  /** Resolves when every model has warmed up (or failed to: then it is logged and /ready stays 503). */
  warmed: Promise<void>;
  close(): Promise<void>;
}

export async function startModelService(options: ModelServiceOptions): Promise<ModelService> {
  const { config, env, log } = options;
  const settings = config.model_service;
  const host = options.host ?? settings.host;
  assertSafeBind(host, { tokens: settings.tokens, adminTokens: [] });

  const local = new LocalModel({ botName: config.bot.name, version: options.version });
  const models: ServedModel[] = [{ id: local.id, chat: local, embeddings: local }];
  const closers: Array<() => Promise<void>> = [];
  if (env.MODEL_PATH) {
    checkModelPath(env.MODEL_PATH);
    const gguf = createLlamaCppModel({ path: env.MODEL_PATH, setting: 'MODEL_PATH', parallel: settings.concurrency, onLog: (level, message) => log.warn({ level }, `llama.cpp: ${message}`) });
    // First in the list: what a client picks when it takes the first model.
    models.unshift({ id: gguf.id, chat: gguf, embeddings: gguf });
    closers.push(() => gguf.close());
  }

  let ready = false;
  const app = await buildModelServiceApp({ models, tokens: settings.tokens, log, concurrency: settings.concurrency, maxWaiting: settings.max_waiting, ready: () => ready });
  const warmed = (async () => {
    const started = performance.now();
    const failures = await Promise.all(
      models.map(async (m) => {
        try {
          await m.chat?.warmUp?.(AbortSignal.timeout(120_000));
          return undefined;
        } catch (err) {
          log.error({ model: m.id, err }, `model ${m.id} failed to warm up: ${errorMessage(err)}`);
          return m.id;
        }
      }),
    );
    ready = failures.every((f) => f === undefined);
    log.info({ event: 'model_service.warm', ready, ms: Math.round(performance.now() - started), models: models.map((m) => m.id) }, ready ? 'models warmed up' : 'some models failed to warm up');
  })();

  try {
    await app.listen({ host, port: options.port ?? settings.port });
  } catch (err) {
    // A port in use must not leave a loaded GGUF model behind in an embedding process.
    await app.close();
    await warmed;
    await Promise.all(closers.map((close) => close()));
    throw err;
  }
  const address = app.server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  log.info({ event: 'model_service.listening', url, models: models.map((m) => m.id) }, `model service listening on ${url}`);
  return {
    app,
    url,
    models,
    warmed,
    close: async () => {
      await app.close();
      await warmed;
      await Promise.all(closers.map((close) => close()));
    },
  };
}
