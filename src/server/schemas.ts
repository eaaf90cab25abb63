import { MESSAGE_STATES, PRIORITIES, type JsonObject, type MessageState, type Priority, type Reply } from '../store/types.js';

/**
 * JSON Schemas for the API, written as plain objects: Fastify validates with them (Ajv) and the
 * OpenAPI document is built from them. Each schema's TypeScript twin sits beside it.
 */

type Schema = Record<string, unknown>;

const string = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const object = (properties: Record<string, Schema>, required: string[], extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const dateTime = string({ format: 'date-time' });
const anyObject: Schema = { type: 'object', additionalProperties: true };

export const ErrorSchema = {
  $id: 'Error',
  description: 'Every error response',
  ...object({ error: object({ code: string(), message: string() }, ['code', 'message']) }, ['error']),
};

export const ReplySchema = object({ text: string(), responder: string(), data: anyObject }, ['text', 'responder']);

export const MessageViewSchema = {
  $id: 'Message',
  ...object(
    {
      id: string(),
      conversationId: string(),
      status: { enum: [...MESSAGE_STATES] },
      priority: { enum: [...PRIORITIES] },
      text: string(),
      sender: nullable(string()),
      channel: string(),
      metadata: nullable(anyObject),
      attempts: { type: 'integer' },
      createdAt: dateTime,
      updatedAt: dateTime,
      startedAt: nullable(dateTime),
      finishedAt: nullable(dateTime),
      analysis: anyObject,
      reply: nullable(ReplySchema),
      lastError: nullable(string()),
    },
    ['id', 'conversationId', 'status', 'priority', 'text', 'sender', 'channel', 'metadata', 'attempts', 'createdAt', 'updatedAt', 'startedAt', 'finishedAt', 'analysis', 'reply', 'lastError'],
  ),
};

export interface MessageView {
  id: string;
  conversationId: string;
  status: MessageState;
  priority: Priority;
  text: string;
  sender: string | null;
  channel: string;
  metadata: JsonObject | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  analysis: JsonObject;
  reply: Reply | null;
  lastError: string | null;
}

export const idPattern = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';

export function sendMessageBody(maxTextLength: number): Schema {
  return object(
    {
      text: string({ minLength: 1, maxLength: maxTextLength, description: 'What the user said' }),
      conversationId: string({ pattern: idPattern, description: 'Messages of one conversation are handled one at a time, in order. A new id is made when absent.' }),
      sender: string({ minLength: 1, maxLength: 256 }),
      channel: string({ pattern: '^[a-z][a-z0-9_-]{0,31}$', description: 'Where the message came from; default "api"' }),
      priority: { enum: [...PRIORITIES], description: 'default "normal"' },
      metadata: { ...anyObject, maxProperties: 64 },
    },
    ['text'],
    { additionalProperties: false },
  );
}

export interface SendMessageBody {
  text: string;
  conversationId?: string;
  sender?: string;
  channel?: string;
  priority?: Priority;
  metadata?: JsonObject;
}

export const AcceptedSchema = object({ id: string(), conversationId: string(), status: { enum: [...MESSAGE_STATES] } }, ['id', 'conversationId', 'status']);

export const IdParams = object({ id: string({ pattern: idPattern }) }, ['id']);

export const PageQuery = object(
  {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
  [],
  { additionalProperties: false },
);

export interface Page {
  limit: number;
  offset: number;
}

export { object, string, type Schema };
