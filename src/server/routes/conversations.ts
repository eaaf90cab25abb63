import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../errors.js';
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
}
