import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import type { JsonObject, MessageRecord } from '../../store/types.js';
import type { ServerDeps } from '../deps.js';
import { messageWaiter } from '../message-wait.js';
import type { Usage } from '../../models/types.js';
import { ChatBodySchema, EmbeddingsBodySchema, modelHttpError, embeddingsInput, embeddingsResponse, openCompletionStream, textOf, wireUsage, type ChatBody, type EmbeddingsBody } from '../openai-wire.js';
import { ErrorSchema, idPattern, object, string } from '../schemas.js';

/**
 * OpenAI's Chat Completions and model list on Pincer's own server, so any OpenAI client can
 * talk to the bot. A request is a message like any other: queued durably, analysed, answered
 * by the pipeline (commands, plugins, the configured model), then returned in OpenAI's shape.
 */

export const BOT_MODEL_ID = 'pincer';

function usageOf(record: MessageRecord): Usage {
  const usage = (record.reply?.data as { usage?: { inputTokens?: number; outputTokens?: number } } | undefined)?.usage;
  // Replies not made by a model (a command) have no token counts; words are a fair estimate.
  return {
    inputTokens: usage?.inputTokens ?? record.text.split(/\s+/).filter(Boolean).length,
    outputTokens: usage?.outputTokens ?? (record.reply?.text ?? '').split(/\s+/).filter(Boolean).length,
  };
}

export function openAICompatRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { config } = deps;
  const { work, events } = deps.store;
  const { waitForFinal } = messageWaiter(deps);
  const created = Math.floor(Date.now() / 1000);

  app.get(
    '/v1/models',
    { schema: { tags: ['openai'], summary: 'OpenAI-compatible model list: the bot itself', security: [{ bearer: [] }] } },
    async () => ({ object: 'list', data: [{ id: BOT_MODEL_ID, object: 'model', created, owned_by: 'pincer' }] }),
  );

  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible chat completion (stream and non-stream), answered through the queue and pipeline',
        description: `The last user message is the message sent to the bot. Header \`x-conversation-id\` (or the \`user\` field) keeps turns in one conversation. Model: "${BOT_MODEL_ID}".`,
        security: [{ bearer: [] }],
        body: ChatBodySchema,
        headers: object({ 'x-conversation-id': string({ pattern: idPattern }) }, []),
        response: { 400: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema, 502: ErrorSchema, 504: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: ChatBody }>, reply: FastifyReply) => {
      const body = request.body;
      if (body.model !== BOT_MODEL_ID) throw new PincerError('MODEL_NOT_FOUND', `model "${body.model}" does not exist here; use "${BOT_MODEL_ID}" (GET /v1/models)`);
      // The bot answers with its own pipeline; a client's tools would have nowhere to go.
      if (body.tools?.length) throw new PincerError('VALIDATION_ERROR', `tools are not supported by the bot ("${BOT_MODEL_ID}"); call a model directly for tool use (pincer model serve, or the vendor)`);
      const last = body.messages[body.messages.length - 1] as ChatBody['messages'][number];
      if (last.role !== 'user') throw new PincerError('VALIDATION_ERROR', `the last message must have role "user" (it has "${last.role}")`);
      const text = textOf(last.content).trim();
      if (!text) throw new PincerError('VALIDATION_ERROR', 'the last user message has no text');
      if (text.length > config.server.max_text_length) throw new PincerError('VALIDATION_ERROR', `the last user message is longer than ${config.server.max_text_length} characters`);

      const conversationId = (request.headers['x-conversation-id'] as string | undefined) ?? (body.user ? `openai:${body.user}`.slice(0, 128) : randomUUID());
      const metadata: JsonObject = { openai: { model: body.model, ...(body.temperature != null ? { temperature: body.temperature } : {}), ...((body.max_completion_tokens ?? body.max_tokens) != null ? { maxTokens: (body.max_completion_tokens ?? body.max_tokens) as number } : {}) } };
      const result = await work.enqueue({ text, conversationId, channel: 'openai', priority: 'normal', metadata, ...(body.user ? { sender: body.user } : {}) });
      const id = `chatcmpl-${result.id}`;

      if (body.stream) return streamCompletion(request, reply, result.id, id, body);

      const record = await waitForFinal(result.id, config.server.max_wait, request);
      return reply.send(completion(id, failIfNotAnswered(record, result.id, config.server.max_wait)));
    },
  );

  app.post(
    '/v1/embeddings',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible embeddings from the configured embedding deployments (models.embeddings)',
        description: `Answered by the model layer directly, not through the queue: an embedding is a lookup, not a message. Model: "${BOT_MODEL_ID}".`,
        security: [{ bearer: [] }],
        body: EmbeddingsBodySchema,
        response: { 400: ErrorSchema, 404: ErrorSchema, 502: ErrorSchema, 504: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: EmbeddingsBody }>) => {
      const body = request.body;
      if (body.model !== BOT_MODEL_ID) throw new PincerError('MODEL_NOT_FOUND', `model "${body.model}" does not exist here; use "${BOT_MODEL_ID}" (GET /v1/models)`);
      const controller = new AbortController();
      const onClose = () => controller.abort(new Error('the client went away'));
      request.raw.once('close', onClose);
      try {
        return embeddingsResponse(body, await deps.models.embeddings.doEmbed({ values: embeddingsInput(body), signal: controller.signal }));
      } catch (err) {
        throw modelHttpError(err);
      } finally {
        request.raw.off('close', onClose);
      }
    },
  );

  function failIfNotAnswered(record: MessageRecord | undefined, messageId: string, waitedMs: number): MessageRecord {
    if (!record) throw new PincerError('REPLY_TIMEOUT', `no reply within ${Math.round(waitedMs / 1000)} s; the message is still queued: GET /v1/messages/${messageId}`);
    if (record.state === 'dead' || !record.reply) throw new PincerError('REPLY_FAILED', `the bot could not answer: ${record.lastError ?? 'unknown error'}`);
    return record;
  }

  function completion(id: string, record: MessageRecord) {
    return {
      id,
      object: 'chat.completion',
      created: Math.floor(record.createdAt / 1000),
      model: BOT_MODEL_ID,
      choices: [{ index: 0, message: { role: 'assistant', content: record.reply?.text ?? '', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: wireUsage(usageOf(record)),
    };
  }

  /**
   * Tokens go out as the responder streams them. The stored reply is the truth: whatever part
   * of it the live tokens did not carry (they may start before this subscription) is sent last.
   */
  async function streamCompletion(request: FastifyRequest, reply: FastifyReply, messageId: string, id: string, body: ChatBody): Promise<void> {
    let sent = '';
    const stream = openCompletionStream(request, reply, id, BOT_MODEL_ID);
    stream.delta({ role: 'assistant', content: '' });
    // Tokens of an attempt that then fails (or whose node dies) are already out; a retry streams
    // its reply from the start. Forwarding stops at the first sign of another attempt, and the
    // end checks what was sent against the stored reply.
    let attemptFailed = false;
    let attempt: number | undefined;
    const unsubscribe = events.subscribe(messageId, (event) => {
      if (event.type === 'status' && event.status === 'failed') attemptFailed = true;
      const seen = event.type === 'status' ? event.attempts : event.type === 'token' ? event.attempt : undefined;
      if (seen !== undefined) {
        if (attempt !== undefined && seen !== attempt) attemptFailed = true;
        attempt = seen;
      }
      if (event.type !== 'token' || attemptFailed) return;
      sent += event.delta;
      stream.delta({ content: event.delta });
    });
    try {
      const record = await waitForFinal(messageId, config.server.max_wait, request);
      if (!record || record.state === 'dead' || !record.reply) {
        const error = record ? `the bot could not answer: ${record.lastError ?? 'unknown error'}` : `no reply within ${Math.round(config.server.max_wait / 1000)} s (GET /v1/messages/${messageId})`;
        stream.error(record ? 'REPLY_FAILED' : 'REPLY_TIMEOUT', error);
        return;
      }
      const full = record.reply.text;
      if (!full.startsWith(sent)) {
        // Part of a failed attempt's reply reached the client: an error, never a spliced text.
        stream.error('REPLY_RETRIED', `the reply was retried after part of a failed attempt had been streamed; the whole reply: GET /v1/messages/${messageId}`);
        return;
      }
      if (full.length > sent.length) stream.delta({ content: full.slice(sent.length) });
      stream.delta({}, 'stop');
      if (body.stream_options?.include_usage) stream.usage(usageOf(record));
      stream.done();
    } finally {
      unsubscribe();
      if (!reply.raw.writableEnded) reply.raw.end();
    }
  }
}
