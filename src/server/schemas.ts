import { Type, type Static } from 'typebox';
import { MESSAGE_STATES, PRIORITIES } from '../queue/types.js';

/** JSON Schemas for the API; Fastify validates with them and the OpenAPI document is built from them. */

export const ErrorSchema = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }) },
  { $id: 'Error', description: 'Every error response' },
);

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ReplySchema = Type.Object({
  text: Type.String(),
  responder: Type.String(),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export const MessageViewSchema = Type.Object(
  {
    id: Type.String(),
    conversationId: Type.String(),
    status: Type.Enum(MESSAGE_STATES),
    priority: Type.Enum(PRIORITIES),
    text: Type.String(),
    sender: nullable(Type.String()),
    channel: Type.String(),
    metadata: nullable(Type.Record(Type.String(), Type.Unknown())),
    attempts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    startedAt: nullable(Type.String({ format: 'date-time' })),
    finishedAt: nullable(Type.String({ format: 'date-time' })),
    analysis: Type.Record(Type.String(), Type.Unknown()),
    reply: nullable(ReplySchema),
    lastError: nullable(Type.String()),
  },
  { $id: 'Message' },
);
export type MessageView = Static<typeof MessageViewSchema>;

export const idPattern = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';

export function sendMessageBody(maxTextLength: number) {
  return Type.Object(
    {
      text: Type.String({ minLength: 1, maxLength: maxTextLength, description: 'What the user said' }),
      conversationId: Type.Optional(Type.String({ pattern: idPattern, description: 'Messages of one conversation are handled one at a time, in order. A new id is made when absent.' })),
      sender: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      channel: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$', description: 'Where the message came from; default "api"' })),
      priority: Type.Optional(Type.Enum(PRIORITIES, { description: 'default "normal"' })),
      metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { maxProperties: 64 })),
    },
    { additionalProperties: false },
  );
}
export type SendMessageBody = Static<ReturnType<typeof sendMessageBody>>;

export const AcceptedSchema = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  status: Type.Enum(MESSAGE_STATES),
});

export const IdParams = Type.Object({ id: Type.String({ pattern: idPattern }) });

export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    offset: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
export type Page = Static<typeof PageQuery>;
