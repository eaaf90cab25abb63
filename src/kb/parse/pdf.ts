import { Worker } from 'node:worker_threads';
import { PincerError } from '../../errors.js';
import { threadEntry } from '../../util/thread-entry.js';
import type { KbSection, ParsedDocument } from '../types.js';
import { baseTitle, parseFailed } from './common.js';
import type { PdfJob, PdfResult } from './pdf-worker.js';

/** How long and how much heap one PDF may take. */
export interface PdfLimits {
  timeoutMs: number;
  memoryMb: number;
}

/**
 * A PDF as one section per page (`page` 1-based, no line numbers, no heading path; heading
 * detection by font size may come later), its title from the document's metadata, else the
 * file name. Pages without text (scans) are left out. Parsed in a worker thread that is
 * terminated after `timeoutMs` (`KB_PARSE_TIMEOUT`) and whose heap is capped at `memoryMb`.
 */
export async function parsePdf(bytes: Buffer, name: string, limits: PdfLimits): Promise<ParsedDocument> {
  const result = await runWorker(bytes, name, limits);
  const sections: KbSection[] = [];
  result.pages.forEach((text, i) => {
    if (text.trim() !== '') sections.push({ headingPath: [], text, lineStart: null, lineEnd: null, page: i + 1 });
  });
  return { title: result.title ?? baseTitle(name), format: 'pdf', sections, faqs: [] };
}

function runWorker(bytes: Buffer, name: string, limits: PdfLimits): Promise<Extract<PdfResult, { ok: true }>> {
  // A copy the thread owns: the caller's Buffer may be a slice of Node's shared pool.
  const data = new Uint8Array(bytes);
  const job: PdfJob = { kind: 'kb-pdf', bytes: data };
  const worker = new Worker(threadEntry(new URL('./pdf-worker.js', import.meta.url), 'dist/src/kb/parse/pdf-worker.js'), {
    workerData: job,
    transferList: [data.buffer],
    name: `kb-pdf:${name}`,
    resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, limits.memoryMb / 8)) },
    stderr: true,
    stdout: true,
  });
  // pdf.js reports fonts it cannot load on the console; none of that is the server's log.
  worker.stderr.resume();
  worker.stdout.resume();
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new PincerError('KB_PARSE_TIMEOUT', `${name}: parsing the PDF took longer than ${limits.timeoutMs} ms; it was stopped`, { file: name })));
    }, limits.timeoutMs);
    worker.once('message', (result: PdfResult) => {
      settle(() => {
        if (result.ok) resolve(result);
        else reject(parseFailed(name, `not a readable PDF (${result.name}: ${result.message})`));
      });
    });
    worker.once('error', (err: Error & { code?: string }) => {
      settle(() => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') reject(parseFailed(name, `parsing the PDF needed more than its ${limits.memoryMb} MB of memory; it was stopped`));
        else reject(parseFailed(name, `the PDF parser failed (${err.message})`));
      });
    });
    worker.once('exit', (code) => {
      settle(() => reject(parseFailed(name, `the PDF parser stopped before it finished (exit code ${code})`)));
    });
  });
}
