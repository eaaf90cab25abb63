import { parentPort, workerData } from 'node:worker_threads';

/**
 * The PDF thread: pdfjs-dist's legacy build reads the file's text page by page and posts it
 * back. It runs apart from the server (src/kb/parse/pdf.ts starts it with a time and a memory
 * limit), so a file that loops the parser or swells its heap only ever kills this thread.
 * Imports nothing of Pincer, so it stays small.
 */

export interface PdfJob {
  /** Marks the thread as this one: the module is also imported elsewhere (tests, for pageText). */
  kind: 'kb-pdf';
  bytes: Uint8Array;
}

export type PdfResult =
  | { ok: true; title: string | null; pages: string[] }
  | { ok: false; message: string; name: string };

interface TextItem {
  str: string;
  hasEOL?: boolean;
  transform?: number[];
  height?: number;
}

/**
 * The legacy build makes a DOMMatrix when it loads (for canvas rendering, which text
 * extraction never uses); Node has none unless the optional @napi-rs/canvas supplies it.
 */
class DOMMatrixStub {
  a = 1;
  b = 0;
  c = 0;
  d = 1;
  e = 0;
  f = 0;
}

async function extract(job: PdfJob): Promise<PdfResult> {
  const g = globalThis as { DOMMatrix?: unknown };
  g.DOMMatrix ??= DOMMatrixStub;
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const task = pdfjs.getDocument({ data: job.bytes, verbosity: 0, isEvalSupported: false, disableFontFace: true, useSystemFonts: false });
  const doc = await task.promise;
  const pages: string[] = [];
  for (let n = 1; n <= doc.numPages; n++) {
    const page = await doc.getPage(n);
    const content = await page.getTextContent();
    pages.push(pageText(content.items as TextItem[]));
    page.cleanup();
  }
  const info = (await doc.getMetadata().catch(() => null))?.info as { Title?: unknown } | undefined;
  const title = typeof info?.Title === 'string' && info.Title.trim() !== '' ? info.Title.trim() : null;
  await doc.destroy();
  return { ok: true, title, pages };
}

/**
 * A page's text items as lines: a new line where the text moves down (or an item ends one),
 * a blank line where it moves down by more than one and a half of its line height (a new
 * paragraph, so the chunker can split there).
 */
export function pageText(items: TextItem[]): string {
  let out = '';
  let lastY: number | null = null;
  let lastHeight = 0;
  let endedLine = false;
  for (const item of items) {
    if (typeof item.str !== 'string') continue;
    const y = item.transform?.[5] ?? null;
    const height = item.height && item.height > 0 ? item.height : Math.abs(item.transform?.[3] ?? 0);
    if (lastY !== null && y !== null && y !== lastY) {
      const gap = Math.abs(lastY - y);
      if (!out.endsWith('\n')) out += '\n';
      if (height > 0 && gap > Math.max(height, lastHeight) * 1.5 && !out.endsWith('\n\n')) out += '\n';
    } else if (endedLine && !out.endsWith('\n')) {
      out += '\n';
    }
    out += item.str;
    endedLine = item.hasEOL === true;
    if (y !== null) lastY = y;
    if (height > 0) lastHeight = height;
  }
  return out
    .split('\n')
    .map((line) => line.replace(/\s+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const job = workerData as Partial<PdfJob> | null;
if (parentPort && job?.kind === 'kb-pdf' && job.bytes instanceof Uint8Array) {
  const port = parentPort;
  extract(job as PdfJob).then(
    (result) => port.postMessage(result),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ ok: false, message: e.message, name: e.name } satisfies PdfResult);
    },
  );
}
