import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFoundError, PincerError } from '../../errors.js';
import type { ServerDeps } from '../deps.js';
import { messageView } from '../message-view.js';
import { ErrorSchema, IdParams, MessageViewSchema, PageQuery, object, string, type Page } from '../schemas.js';

export function conversationRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get(
    '/v1/conversations/:id',
    {
      schema: {
        tags: ['conversations'],
        summary: "A conversation's messages and replies, oldest first",
        params: IdParams,
        querystring: PageQuery,
        response: { 200: object({ id: string(), messages: { type: 'array', items: MessageViewSchema } }, ['id', 'messages']), 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Querystring: Page }>) => {
      const { id } = request.params;
      const records = await deps.store.messages.conversation(id, request.query);
      if (records.length === 0 && request.query.offset === 0) throw new NotFoundError('CONVERSATION_NOT_FOUND', 'conversation', id);
      return { id, messages: records.map(messageView) };
    },
  );

  const count = { type: 'integer', minimum: 0 };
  app.delete(
    '/v1/conversations/:id/memory',
    {
      schema: {
        tags: ['conversations'],
        summary: "Forget what agent memory kept of a conversation: its summaries, its search index and the facts of everyone who wrote in it",
        description:
          'Messages themselves stay (retention removes them); what is stored so far is never indexed or summarised again. Answers with how many of each were removed (docs/memory.md).',
        params: IdParams,
        response: { 200: object({ id: string(), summaries: count, turns: count, facts: count }, ['id', 'summaries', 'turns', 'facts']), 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      if (!deps.memory) throw new PincerError('MEMORY_DISABLED', 'agent memory is turned off (memory.enabled: false): there is nothing to forget');
      const { id } = request.params;
      return { id, ...(await deps.memory.forgetConversation(id)) };
    },
  );
}
