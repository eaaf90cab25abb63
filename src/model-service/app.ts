import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isErrorCode, PincerError } from '../errors.js';
import { ModelError } from '../models/errors.js';
import type { EmbeddingModel, GenerateRequest, LanguageModel, ToolCall } from '../models/types.js';
import { installAuth } from '../server/auth.js';
import { FRAMEWORK_ERROR_OPTIONS, installErrorHandling } from '../server/errors.js';
import {
  ChatBodySchema,
  EmbeddingsBodySchema,
  embeddingsInput,
  embeddingsResponse,
  modelHttpError,
  openCompletionStream,
  toGenerateRequest,
  wireFinishReason,
  wireToolCalls,
  wireUsage,
  type ChatBody,
  type EmbeddingsBody,
} from '../server/openai-wire.js';
import { ErrorSchema } from '../server/schemas.js';
import { validatorCompiler } from '../server/validation.js';
import { Admission } from './admission.js';

/**
 * The model service's HTTP API: OpenAI's /v1/models, /v1/chat/completions and /v1/embeddings
 * over the models this process holds, answered directly (no queue: the bot nodes in front
 * already queued the message). Any OpenAI client can use it, Pincer's own
 * `openai-compatible` provider included.
 */

export interface ServedModel {
  /** The id clients name in `model`, e.g. "local/intents". */
  id: string;
  chat?: LanguageModel;
  embeddings?: EmbeddingModel;
}

export interface ModelServiceAppOptions {
  models: readonly ServedModel[];
  tokens: readonly string[];
  log: FastifyBaseLogger;
  /** Calls running at once per model, and how many more may wait. */
  concurrency: number;
  maxWaiting: number;
  bodyLimit?: number;
  /** False until every model has warmed up: /ready answers 503 meanwhile. */
  ready: () => boolean;
}


export async function buildModelServiceApp(options: ModelServiceAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 8 * 1_048_576,
    ...FRAMEWORK_ERROR_OPTIONS,
  });
  app.setValidatorCompiler(validatorCompiler());
  installErrorHandling(app);
  installAuth(app, { tokens: options.tokens, adminTokens: [] });

  const byId = new Map(options.models.map((m) => [m.id, { served: m, admission: new Admission(m.id, options.concurrency, options.maxWaiting) }]));
  const created = Math.floor(Date.now() / 1000);

  const find = (id: string, kind: 'chat' | 'embeddings') => {
    const entry = byId.get(id);
    const usable = [...byId.values()].filter((e) => e.served[kind]).map((e) => e.served.id);
    if (!entry?.served[kind]) {
      throw new PincerError('MODEL_NOT_FOUND', `model "${id}" ${entry ? `does not do ${kind}` : 'is not served here'}; ${kind} models: ${usable.join(', ') || 'none'}`);
    }
    return entry;
  };

  /** Runs `call` within the model's admission, aborting it when the client goes away. */
  const admitted = async <T>(request: FastifyRequest, reply: FastifyReply, entry: { admission: Admission }, call: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) controller.abort(new ModelError('aborted', 'model-service', 'the client went away'));
    };
    reply.raw.on('close', onClose);
    let release: (() => void) | undefined;
    try {
      release = await entry.admission.acquire(controller.signal);
      return await call(controller.signal);
    } catch (err) {
      if (isErrorCode(err, 'MODEL_BUSY')) void reply.header('retry-after', '1');
      throw modelHttpError(err);
    } finally {
      release?.();
      reply.raw.off('close', onClose);
    }
  };

  app.get('/health', { config: { accessLog: false } }, async (_request, reply) => reply.type('text/plain').send('OK'));
  app.get('/ready', async (_request, reply) => {
    const ready = options.ready();
    return reply.code(ready ? 200 : 503).send({ ready, models: options.models.map((m) => ({ id: m.id, ...byId.get(m.id)?.admission.stats })) });
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: options.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: 'pincer', capabilities: { chat: Boolean(m.chat), embeddings: Boolean(m.embeddings) } })),
  }));

  app.post(
    '/v1/chat/completions',
    { schema: { body: ChatBodySchema, response: { 400: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema } } },
    async (request: FastifyRequest<{ Body: ChatBody }>, reply) => {
      const body = request.body;
      const entry = find(body.model, 'chat');
      const model = entry.served.chat as LanguageModel;
      const generate = toGenerateRequest(body);
      const id = `chatcmpl-${randomUUID()}`;
      if (body.stream) return streamCompletion(request, reply, entry, body.model, generate, id, body.stream_options?.include_usage === true);
      const result = await admitted(request, reply, entry, (signal) => model.doGenerate({ ...generate, signal }));
      return {
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: result.toolCalls?.length && !result.text ? null : result.text, refusal: null, ...(result.toolCalls?.length && { tool_calls: wireToolCalls(result.toolCalls) }) },
            logprobs: null,
            finish_reason: wireFinishReason(result.finishReason),
          },
        ],
        usage: wireUsage(result.usage),
      };
    },
  );

  /**
   * Headers go out only once the model is admitted and its first part is ready, so a busy
   * model or an early failure is still a proper HTTP error the client can retry.
   */
  async function streamCompletion(
    request: FastifyRequest,
    reply: FastifyReply,
    entry: { admission: Admission },
    modelId: string,
    generate: GenerateRequest,
    id: string,
    includeUsage: boolean,
  ): Promise<void> {
    const model = byId.get(modelId)?.served.chat as LanguageModel;
    await admitted(request, reply, entry, async (signal) => {
      const parts = model.doStream({ ...generate, signal })[Symbol.asyncIterator]();
      let next = await parts.next().catch((err: unknown) => {
        throw modelHttpError(err);
      });
      const stream = openCompletionStream(request, reply, id, modelId);
      stream.delta({ role: 'assistant', content: '' });
      const calls: ToolCall[] = [];
      try {
        for (; !next.done; next = await parts.next()) {
          const part = next.value;
          if (part.type === 'text-delta') stream.delta({ content: part.delta });
          else if (part.type === 'tool-call') {
            stream.delta({ tool_calls: [{ index: calls.length, ...wireToolCalls([part.toolCall])[0] }] });
            calls.push(part.toolCall);
          } else {
            stream.delta({}, wireFinishReason(part.finishReason));
            if (includeUsage) stream.usage(part.usage);
            stream.done();
            return;
          }
        }
        stream.error('MODEL_BAD_RESPONSE', 'the model stream ended before its final part');
      } catch (err) {
        const error = modelHttpError(err);
        stream.error(error.code, error.message);
      }
    });
  }

  app.post('/v1/embeddings', { schema: { body: EmbeddingsBodySchema, response: { 400: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema } } }, async (request: FastifyRequest<{ Body: EmbeddingsBody }>, reply) => {
    const body = request.body;
    const entry = find(body.model, 'embeddings');
    const values = embeddingsInput(body);
    const result = await admitted(request, reply, entry, (signal) => (entry.served.embeddings as EmbeddingModel).doEmbed({ values, signal }));
    return embeddingsResponse(body, result);
  });

  return app;
}
