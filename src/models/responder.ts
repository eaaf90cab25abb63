import type { Responder } from '../pipeline/types.js';
import type { JsonObject } from '../queue/types.js';
import { ModelError } from './errors.js';
import type { ChatMessage, LanguageModel } from './types.js';

export interface ModelResponderOptions {
  model: LanguageModel;
  systemPrompt?: string;
  /** Earlier turns of the conversation, oldest first, already cut to the model's budget. */
  history?: (conversationId: string, currentMessageId: string) => Promise<ChatMessage[]>;
  order?: number;
}

/**
 * Answers a message with a language model, streaming its text to clients watching the
 * message. A stream that ends without its final part is an error, never a silent success.
 */
export function modelResponder(options: ModelResponderOptions): Responder {
  const { model } = options;
  return {
    name: 'model',
    order: options.order ?? 100,
    async respond(ctx) {
      const messages: ChatMessage[] = [];
      if (options.systemPrompt) messages.push({ role: 'system', content: options.systemPrompt });
      if (options.history) messages.push(...(await options.history(ctx.message.conversationId, ctx.message.id)));
      messages.push({ role: 'user', content: ctx.message.text });

      let text = '';
      let finish: { finishReason: string; usage: { inputTokens: number; outputTokens: number }; data?: JsonObject } | undefined;
      for await (const part of model.doStream({ messages, analysis: ctx.analysis, signal: ctx.signal })) {
        if (part.type === 'text-delta') {
          text += part.delta;
          ctx.stream(part.delta);
        } else if (part.type === 'finish') {
          finish = part;
        }
        // No tools are offered here, so tool-call parts cannot arrive.
      }
      if (!finish) throw new ModelError('bad_response', model.provider, 'the reply stream ended before its final part');
      return {
        text,
        data: { model: model.id, finishReason: finish.finishReason, usage: { ...finish.usage }, ...(finish.data ?? {}) },
      };
    },
  };
}
