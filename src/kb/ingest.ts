/**
 * Putting a file into the knowledge base: its bytes hashed (an unchanged file is not read
 * again), parsed in its format, chunked, each chunk's words computed by Pincer's tokenizer,
 * and the source's chunks replaced in one transaction (unchanged chunks keep their ids and
 * vectors). A file that cannot be ingested is recorded with its error and never stops the rest.
 * Vectors are made afterwards, in batches, for chunks that have none for the embedding model.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { errorCode, errorMessage, PincerError } from '../errors.js';
import type { KnowledgeStore, KbSourceRecord } from '../store/types.js';
import { chunkDocument } from './chunk.js';
import { parseDocument } from './parse/index.js';
import { kbWords } from './words.js';
import { embeddingText, type KbEmbedder } from './retrieval.js';

/** Chunks embedded per call to the embedding model. */
const EMBED_BATCH = 32;

export interface KbLimits {
  maxFileBytes: number;
  /** Chunks in the whole knowledge base. */
  maxChunks: number;
  targetTokens: number;
  overlapTokens: number;
  parseTimeoutMs: number;
}

export type IngestOutcome =
  | { status: 'unchanged'; source: KbSourceRecord }
  | { status: 'indexed'; source: KbSourceRecord; added: number; kept: number; removed: number }
  | { status: 'error'; source: KbSourceRecord; code: string; error: string };

export class KbIngestor {
  constructor(
    private readonly store: KnowledgeStore,
    private readonly embedder: KbEmbedder | undefined,
    private readonly limits: KbLimits,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {}

  /** Ingest one file's bytes under `uri` (`kb:<path in the folder>`, `file:<absolute path>`). */
  async ingest(uri: string, name: string, bytes: Buffer, options: { force?: boolean } = {}): Promise<IngestOutcome> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const known = await this.store.getSource(uri);
    if (!options.force && known && known.status === 'indexed' && known.sha256 === sha256) return { status: 'unchanged', source: known };
    try {
      if (bytes.length > this.limits.maxFileBytes) {
        throw new PincerError('KB_FILE_TOO_LARGE', `${name} is ${bytes.length} bytes; kb.max_file_size allows ${this.limits.maxFileBytes}`);
      }
      const doc = await parseDocument({ name, bytes }, { pdfTimeoutMs: this.limits.parseTimeoutMs, maxBytes: this.limits.maxFileBytes });
      const chunks = chunkDocument(doc, { targetTokens: this.limits.targetTokens, overlapTokens: this.limits.overlapTokens, maxChunks: this.limits.maxChunks });
      const total = (await this.store.listSources()).reduce((n, s) => n + (s.uri === uri ? 0 : s.chunks), 0);
      if (total + chunks.length > this.limits.maxChunks) {
        throw new PincerError('KB_TOO_MANY_CHUNKS', `${name} has ${chunks.length} chunks and the knowledge base ${total}; kb.max_chunks allows ${this.limits.maxChunks} in all`);
      }
      // Headings and questions are indexed apart from the body: they weigh more in ranking.
      const indexed = chunks.map((c) => ({ ...c, lexHead: kbWords([...c.headingPath, ...c.questions].join('\n')).join(' '), lexBody: kbWords(c.text).join(' ') }));
      const result = await this.store.replaceSource({ uri, title: doc.title, format: doc.format, sha256, bytes: bytes.length }, indexed);
      this.log.info({ event: 'kb.indexed', uri, chunks: chunks.length, added: result.added, kept: result.kept, removed: result.removed }, `knowledge: indexed ${uri} (${chunks.length} chunks)`);
      return { status: 'indexed', ...result };
    } catch (err) {
      const code = errorCode(err) ?? 'KB_PARSE_FAILED';
      const error = errorMessage(err);
      const source = await this.store.failSource({ uri, title: name, sha256, bytes: bytes.length }, error);
      this.log.warn({ event: 'kb.failed', uri, code, error }, `knowledge: could not ingest ${uri}: ${error}`);
      return { status: 'error', source, code, error };
    }
  }

  /** Make the vectors chunks still lack; returns how many. An embedding failure is logged and tried again next time. */
  async embedPending(signal?: AbortSignal): Promise<number> {
    const embedder = this.embedder;
    if (!embedder) return 0;
    let made = 0;
    for (;;) {
      if (signal?.aborted) return made;
      const batch = await this.store.chunksWithoutVector(embedder.key, EMBED_BATCH);
      if (batch.length === 0) return made;
      const { embeddings } = await embedder.model.doEmbed({ values: batch.map(embeddingText), ...(signal && { signal }) });
      await this.store.putVectors(
        embedder.key,
        batch.map((c, i) => ({ chunkId: c.chunkId, vector: Float32Array.from(embeddings[i] ?? []) })),
      );
      made += batch.length;
    }
  }
}
