/**
 * The knowledge base of one Pincer instance (docs/knowledge.md): the folder it watches, the
 * sources added by path or upload, their ingestion one at a time (a burst of changes is
 * queued, never run twice at once), retrieval, and the log of questions it could not answer.
 * The index itself is the store's knowledge role, shared by every node of a cluster.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { PincerError } from '../errors.js';
import type { KnowledgeStore, KbSourceRecord } from '../store/types.js';
import { fileSize, folderUri, listFolder, watchFolder } from './folder.js';
import { KbIngestor, type IngestOutcome, type KbLimits } from './ingest.js';
import { KB_EXTENSIONS, kbFormatOf } from './parse/index.js';
import { KbRetriever, type KbEmbedder, type KbSearchResult } from './retrieval.js';

const FILE_URI = 'file:';
const HAS_CHUNKS_TTL_MS = 2_000;
/** What an uploaded file may be called: a relative path of plain names, no "..", no hidden parts. */
const UPLOAD_NAME = /^(?!.*(^|\/)\.)[\w\- .]+(\/[\w\- .]+)*$/;

export interface KnowledgeBaseOptions {
  store: KnowledgeStore;
  /** kb.dir, resolved. */
  dir: string;
  watch: boolean;
  limits: KbLimits;
  embedder?: KbEmbedder;
  log: Logger;
}

export interface ScanReport {
  indexed: number;
  unchanged: number;
  failed: number;
  removed: number;
}

export class KnowledgeBase {
  readonly retriever: KbRetriever;
  private readonly ingestor: KbIngestor;
  private stopWatching: (() => void) | undefined;
  /** One ingestion at a time: scans, uploads and re-indexes queue behind each other. */
  private queue: Promise<unknown> = Promise.resolve();
  private rescan = false;
  private chunksKnown: { at: number; value: boolean } | undefined;
  private closed = false;

  constructor(private readonly options: KnowledgeBaseOptions) {
    this.retriever = new KbRetriever(options.store, options.embedder);
    this.ingestor = new KbIngestor(options.store, options.embedder, options.limits, options.log);
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Scan the folder once, then watch it (`kb.watch`). */
  async start(): Promise<ScanReport> {
    await mkdir(this.options.dir, { recursive: true });
    const report = await this.scan();
    if (this.options.watch && !this.closed) {
      this.stopWatching = watchFolder(this.options.dir, 300, () => void this.onFolderChange(), (err) => this.options.log.warn({ err, event: 'kb.watch_failed' }, `knowledge: cannot watch ${this.options.dir}; changes are picked up by POST /v1/admin/kb/reindex`));
    }
    return report;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    await this.queue.catch(() => undefined);
  }

  /**
   * Whether there is anything to search (asked per message, so cached briefly: a bot without
   * documents pays one store read every few seconds, not one per message).
   */
  async hasChunks(): Promise<boolean> {
    const now = Date.now();
    if (this.chunksKnown && now - this.chunksKnown.at < HAS_CHUNKS_TTL_MS) return this.chunksKnown.value;
    const value = (await this.options.store.listSources()).some((s) => s.chunks > 0);
    this.chunksKnown = { at: now, value };
    return value;
  }

  /** What the last hasChunks() found (true before the first): read where an await is not possible. */
  get lastKnownNonEmpty(): boolean {
    return this.chunksKnown?.value ?? true;
  }

  search(query: string, k: number, signal?: AbortSignal): Promise<KbSearchResult> {
    return this.retriever.search(query, k, signal);
  }

  listSources(): Promise<KbSourceRecord[]> {
    return this.options.store.listSources();
  }

  /** Every file of the folder ingested if changed (all again with `force`), vanished ones removed, `file:` sources read again. */
  scan(force = false): Promise<ScanReport> {
    return this.serially(async () => {
      const report: ScanReport = { indexed: 0, unchanged: 0, failed: 0, removed: 0 };
      const files = await listFolder(this.options.dir);
      const present = new Set(files.map(folderUri));
      for (const relative of files) {
        if (this.closed) break;
        count(report, await this.ingestPath(path.join(this.options.dir, relative), folderUri(relative), relative, force));
      }
      for (const source of await this.options.store.listSources()) {
        if (source.uri.startsWith('kb:') && !present.has(source.uri)) {
          await this.options.store.deleteSource(source.id);
          report.removed++;
        } else if (source.uri.startsWith(FILE_URI)) {
          const file = source.uri.slice(FILE_URI.length);
          if ((await fileSize(file)) === undefined) {
            await this.options.store.failSource({ uri: source.uri }, `${file} is gone; add it again or delete this source`);
            report.failed++;
          } else count(report, await this.ingestPath(file, source.uri, path.basename(file), force));
        }
      }
      await this.embed();
      this.chunksKnown = undefined;
      return report;
    });
  }

  /** A file on this server's disk, by path: a `file:` source, read again by every re-index. */
  addPath(file: string): Promise<IngestOutcome> {
    const absolute = path.resolve(file);
    const inFolder = path.relative(this.options.dir, absolute);
    const uri = !inFolder.startsWith('..') && !path.isAbsolute(inFolder) ? folderUri(inFolder) : `${FILE_URI}${absolute}`;
    return this.serially(async () => {
      if ((await fileSize(absolute)) === undefined) throw new PincerError('KB_SOURCE_INVALID', `no file ${absolute} on the server`);
      const outcome = await this.ingestPath(absolute, uri, path.basename(absolute), false);
      await this.embed();
      this.chunksKnown = undefined;
      return outcome;
    });
  }

  /** An uploaded file: written into the folder (so it survives a re-index and shows in it), then ingested. */
  upload(name: string, bytes: Buffer): Promise<IngestOutcome> {
    const relative = name.trim();
    if (!UPLOAD_NAME.test(relative) || relative.length > 200) throw new PincerError('KB_SOURCE_INVALID', `"${name}" is not a file name for the knowledge folder: use letters, digits, "_", "-", ".", spaces and "/" between folders, no hidden or ".." parts`);
    if (kbFormatOf(relative) === null) throw new PincerError('KB_FORMAT_UNSUPPORTED', `${relative}: the knowledge base reads ${KB_EXTENSIONS.join(' ')}`);
    if (bytes.length > this.options.limits.maxFileBytes) throw new PincerError('KB_FILE_TOO_LARGE', `${relative} is ${bytes.length} bytes; kb.max_file_size allows ${this.options.limits.maxFileBytes}`);
    const file = path.join(this.options.dir, relative);
    return this.serially(async () => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
      const outcome = await this.ingestor.ingest(folderUri(relative), relative, bytes);
      await this.embed();
      this.chunksKnown = undefined;
      return outcome;
    });
  }

  /** Remove a source; a folder file is deleted with it (else the next scan would add it back). */
  async remove(id: string): Promise<KbSourceRecord> {
    const source = await this.options.store.getSource(id);
    if (!source) throw new PincerError('KB_SOURCE_NOT_FOUND', `no knowledge source ${id}`);
    return this.serially(async () => {
      if (source.uri.startsWith('kb:')) await rm(path.join(this.options.dir, source.uri.slice(3)), { force: true });
      await this.options.store.deleteSource(source.id);
      return source;
    });
  }

  private async ingestPath(file: string, uri: string, name: string, force: boolean): Promise<IngestOutcome> {
    // Nothing bigger than the limit is read: the refusal is recorded from its size alone.
    const size = await fileSize(file);
    if (size !== undefined && size > this.options.limits.maxFileBytes) {
      const error = `${name} is ${size} bytes; kb.max_file_size allows ${this.options.limits.maxFileBytes}`;
      return { status: 'error', source: await this.options.store.failSource({ uri, title: name, bytes: size }, error), code: 'KB_FILE_TOO_LARGE', error };
    }
    return this.ingestor.ingest(uri, name, await readFile(file), { force });
  }

  private async embed(): Promise<void> {
    try {
      await this.ingestor.embedPending();
    } catch (err) {
      this.options.log.warn({ err, event: 'kb.embed_failed' }, 'knowledge: could not make vectors for new chunks; search uses words alone until the next ingestion');
    }
  }

  private async onFolderChange(): Promise<void> {
    // A change during a scan asks for one more scan, not one per event.
    if (this.rescan) return;
    this.rescan = true;
    await this.queue.catch(() => undefined);
    this.rescan = false;
    if (this.closed) return;
    await this.scan().catch((err: unknown) => this.options.log.warn({ err, event: 'kb.scan_failed' }, 'knowledge: a folder scan failed'));
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function count(report: ScanReport, outcome: IngestOutcome): void {
  if (outcome.status === 'indexed') report.indexed++;
  else if (outcome.status === 'unchanged') report.unchanged++;
  else report.failed++;
}
