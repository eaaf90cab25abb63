/**
 * The knowledge base: ingestion speed (generated Markdown pages, parsed, chunked, indexed and
 * embedded with the built-in embedding) and search latency at 10k and 100k chunks, each
 * search beside the store's lexical query alone on the same index (the reference).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { kbWords } from '../src/kb/words.js';
import { KnowledgeBase } from '../src/kb/service.js';
import { HASHED_VECTOR_WEIGHT } from '../src/kb/setup.js';
import { chunkHash } from '../src/kb/chunk.js';
import { LocalModel } from '../src/models/local/local-model.js';
import { SqliteQueue } from '../src/store/sqlite/queue.js';
import type { KbIndexedChunk } from '../src/store/types.js';
import { percentile } from './lib.js';

const VOCABULARY =
  'account password reset billing invoice plan upgrade export import note folder share offline sync mobile android iphone token api limit retention delete backup restore shortcut format table search tag archive trash team admin member invite email notification security login session device browser desktop calendar reminder attachment image pdf markdown editor theme language region privacy encryption storage quota'.split(
    ' ',
  );

/** A deterministic pseudo-random word stream: the same corpus every run. */
function words(seed: number, n: number): string {
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(VOCABULARY[x % VOCABULARY.length] as string);
  }
  return out.join(' ');
}

function page(i: number): string {
  return `# Guide ${i}\n\n## ${words(i, 3)}\n\n${words(i + 1, 120)}.\n\n## ${words(i + 2, 3)}\n\n${words(i + 3, 120)}.\n\n### ${words(i + 4, 2)}\n\n${words(i + 5, 80)}.\n`;
}

const log = pino({ level: 'silent' });
const embedder = () => ({ key: 'local/hashed', model: new LocalModel({ botName: 'Bench', version: 'bench' }), weight: HASHED_VECTOR_WEIGHT });
const limits = { maxFileBytes: 1 << 20, maxChunks: 1_000_000, targetTokens: 400, overlapTokens: 60, parseTimeoutMs: 30_000 };

export async function kbIngestion(pages = 300): Promise<{ pagesPerSecond: number; chunks: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pincer-bench-kb-'));
  try {
    const folder = path.join(dir, 'knowledge');
    mkdirSync(folder);
    for (let i = 0; i < pages; i++) writeFileSync(path.join(folder, `page-${i}.md`), page(i));
    const queue = new SqliteQueue(path.join(dir, 'kb.db'), benchQueueOptions());
    const kb = new KnowledgeBase({ store: queue.knowledge, dir: folder, watch: false, embedder: embedder(), limits, log });
    const started = performance.now();
    await kb.start();
    const seconds = (performance.now() - started) / 1000;
    const chunks = (await queue.knowledge.listSources()).reduce((n, s) => n + s.chunks, 0);
    await kb.close();
    await queue.close();
    return { pagesPerSecond: pages / seconds, chunks };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function kbSearchLatency(chunks: number, queries = 200): Promise<{ p50: number; p95: number; lexicalP50: number; lexicalP95: number; buildSeconds: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pincer-bench-kb-'));
  try {
    const queue = new SqliteQueue(path.join(dir, 'kb.db'), benchQueueOptions());
    const kb = new KnowledgeBase({ store: queue.knowledge, dir: path.join(dir, 'knowledge'), watch: false, embedder: embedder(), limits, log });
    const started = performance.now();
    const perSource = 1000;
    for (let s = 0; s * perSource < chunks; s++) {
      const batch: KbIndexedChunk[] = [];
      for (let i = 0; i < perSource && s * perSource + i < chunks; i++) {
        const n = s * perSource + i;
        const text = words(n, 60);
        const headingPath = [`Guide ${s}`, words(n + 7, 3)];
        batch.push({ ordinal: i, kind: 'section', headingPath, questions: [], text, lineStart: 1, lineEnd: 3, page: null, tokens: 80, hash: chunkHash({ kind: 'section', headingPath, questions: [], text }), lexHead: kbWords(headingPath.join('\n')).join(' '), lexBody: kbWords(text).join(' ') });
      }
      await queue.knowledge.replaceSource({ uri: `kb:source-${s}.md`, title: `Guide ${s}`, format: 'markdown', sha256: String(s), bytes: 1 }, batch);
    }
    await kb.scan();
    const buildSeconds = (performance.now() - started) / 1000;
    const questions = Array.from({ length: queries }, (_, i) => `how do I ${words(i + 1_000_000, 4)}?`);
    await kb.search(questions[0] as string, 5); // loads the vector matrix once
    const full: number[] = [];
    const lexical: number[] = [];
    for (const q of questions) {
      let t = performance.now();
      await kb.search(q, 5);
      full.push(performance.now() - t);
      t = performance.now();
      await queue.knowledge.searchLexical(kbWords(q), 50);
      lexical.push(performance.now() - t);
    }
    full.sort((a, b) => a - b);
    lexical.sort((a, b) => a - b);
    await kb.close();
    await queue.close();
    return { p50: percentile(full, 50), p95: percentile(full, 95), lexicalP50: percentile(lexical, 50), lexicalP95: percentile(lexical, 95), buildSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function benchQueueOptions() {
  return { maxLength: 10_000, maxLengthCap: 100_000, retryDelayMs: 1000, retryBackoff: 2, maxRetryDelayMs: 60_000, maxAttempts: 5, leaseMs: 30_000, agingMs: { normal: 30_000, low: 120_000 }, commitBatch: 256, metadata: { maxDepth: 32, maxBytes: 65_536 } };
}
