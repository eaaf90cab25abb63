import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import type { IngestOutcome } from '../../kb/ingest.js';
import type { KnowledgeBase } from '../../kb/service.js';
import type { KbSourceRecord } from '../../store/types.js';
import type { ServerDeps } from '../deps.js';
import { ErrorSchema, object, string } from '../schemas.js';

const security = [{ bearer: [] }];
const anyObject = { type: 'object', additionalProperties: true };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function sourceView(s: KbSourceRecord) {
  return { id: s.id, uri: s.uri, title: s.title, format: s.format, bytes: s.bytes, status: s.status, error: s.error, chunks: s.chunks, indexedAt: iso(s.indexedAt), updatedAt: iso(s.updatedAt) };
}

function outcomeView(o: IngestOutcome) {
  return {
    status: o.status,
    source: sourceView(o.source),
    ...(o.status === 'indexed' && { added: o.added, kept: o.kept, removed: o.removed }),
    ...(o.status === 'error' && { error: { code: o.code, message: o.error } }),
  };
}

interface SourceBody {
  path?: string;
  name?: string;
  content?: string;
  encoding?: 'utf8' | 'base64';
}

/** The knowledge base for operators (docs/knowledge.md): sources, re-indexing, what retrieval returns, what it could not answer. */
export function adminKbRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const kb = (): KnowledgeBase => {
    if (!deps.kb) throw new PincerError('KB_DISABLED', 'the knowledge base is off (kb.enabled: false)');
    return deps.kb;
  };

  app.get(
    '/v1/admin/kb/sources',
    { schema: { tags: ['admin'], summary: 'Knowledge sources with their status, chunk count and error', security, response: { 200: object({ sources: { type: 'array', items: anyObject } }, ['sources']), 404: ErrorSchema } } },
    async () => ({ sources: (await kb().listSources()).map(sourceView) }),
  );

  app.post(
    '/v1/admin/kb/sources',
    {
      schema: {
        tags: ['admin'],
        summary: 'Add a source: upload a file into the knowledge folder ({name, content, encoding}) or name a file on the server ({path}); ingested before the answer',
        security,
        body: object(
          {
            path: string({ minLength: 1, maxLength: 4096 }),
            name: string({ minLength: 1, maxLength: 200 }),
            content: { type: 'string' },
            encoding: { enum: ['utf8', 'base64'], default: 'utf8' },
          },
          [],
          { additionalProperties: false },
        ),
        response: { 200: anyObject, 400: ErrorSchema, 404: ErrorSchema, 413: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Body: SourceBody }>) => {
      const { path, name, content, encoding } = request.body;
      if ((path === undefined) === (name === undefined)) throw new PincerError('KB_SOURCE_INVALID', 'give either "path" (a file on the server) or "name" and "content" (an upload)');
      if (path !== undefined) return outcomeView(await kb().addPath(path));
      if (content === undefined) throw new PincerError('KB_SOURCE_INVALID', 'an upload needs "content" (text, or base64 with "encoding": "base64")');
      return outcomeView(await kb().upload(name as string, Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8')));
    },
  );

  app.delete(
    '/v1/admin/kb/sources/:id',
    {
      schema: { tags: ['admin'], summary: 'Remove a source and its chunks (a file of the knowledge folder is deleted too)', security, params: object({ id: string({ minLength: 1, maxLength: 64 }) }, ['id']), response: { 200: anyObject, 404: ErrorSchema } },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => ({ removed: sourceView(await kb().remove(request.params.id)) }),
  );

  app.post(
    '/v1/admin/kb/reindex',
    {
      schema: {
        tags: ['admin'],
        summary: 'Scan the knowledge folder and re-read file sources now; with ?force=true every source is parsed again',
        security,
        querystring: object({ force: { type: 'boolean', default: false } }, [], { additionalProperties: false }),
        response: { 200: anyObject, 400: ErrorSchema, 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Querystring: { force: boolean } }>) => ({ report: await kb().scan(request.query.force) }),
  );

  app.get(
    '/v1/admin/kb/search',
    {
      schema: {
        tags: ['admin'],
        summary: 'What retrieval returns for a question, with scores, ranks and coverage',
        security,
        querystring: object({ q: string({ minLength: 1, maxLength: 2000 }), k: { type: 'integer', minimum: 1, maximum: 50, default: 5 } }, ['q'], { additionalProperties: false }),
        response: { 200: anyObject, 400: ErrorSchema, 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Querystring: { q: string; k: number } }>) => {
      const result = await kb().search(request.query.q, request.query.k);
      return { query: request.query.q, terms: result.terms, confidence: result.confidence, answerable: result.confidence >= deps.config.kb.min_coverage, hits: result.hits };
    },
  );

  app.get(
    '/v1/admin/kb/unanswered',
    {
      schema: {
        tags: ['admin'],
        summary: 'Questions the knowledge base could not answer, the same question grouped with a count, newest first',
        security,
        querystring: object({ limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 } }, [], { additionalProperties: false }),
        response: { 200: object({ questions: { type: 'array', items: anyObject } }, ['questions']), 400: ErrorSchema, 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Querystring: { limit: number; offset: number } }>) => {
      kb();
      const rows = await deps.store.knowledge.listUnanswered(request.query);
      return { questions: rows.map((r) => ({ ...r, at: iso(r.at) })) };
    },
  );
}
