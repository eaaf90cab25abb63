import { PincerError } from '../../errors.js';
import type { KbFormat, ParsedDocument } from '../types.js';
import { decodeText, parseFailed } from './common.js';
import { parseFaqCsv, parseFaqJson, parseFaqYaml } from './faq.js';
import { parseMarkdown } from './markdown.js';
import { parsePdf } from './pdf.js';
import { parseText } from './text.js';

/**
 * One entry point for the knowledge base's files: the parser is picked by the file's
 * extension; every failure is a PincerError with a KB_ code whose message names the file (and
 * the line or page where known). Pure: bytes in, a ParsedDocument out, nothing stored.
 */

export interface KbParseLimits {
  /** Largest file read, in bytes (kb.max_file_size). */
  maxBytes: number;
  /** How long one PDF may take to parse before its thread is stopped. */
  pdfTimeoutMs: number;
  /** Heap cap of the PDF thread. */
  pdfMemoryMb: number;
}

/** 20 MiB files (kb.max_file_size), PDFs stopped after 60 s or 512 MB of heap. */
export const DEFAULT_KB_PARSE_LIMITS: Readonly<KbParseLimits> = Object.freeze({
  maxBytes: 20 * 1024 * 1024,
  pdfTimeoutMs: 60_000,
  pdfMemoryMb: 512,
});

type Reader = 'markdown' | 'text' | 'html' | 'pdf' | 'faq-yaml' | 'faq-json' | 'faq-csv';

const READERS: Readonly<Record<string, Reader>> = {
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'text',
  '.html': 'html',
  '.htm': 'html',
  '.pdf': 'pdf',
  '.yaml': 'faq-yaml',
  '.yml': 'faq-yaml',
  '.json': 'faq-json',
  '.csv': 'faq-csv',
};

/** The extensions the knowledge base reads, with their dot. */
export const KB_EXTENSIONS: readonly string[] = Object.freeze(Object.keys(READERS));

function extensionOf(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? name;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

function readerOf(name: string): Reader | undefined {
  return READERS[extensionOf(name)];
}

/** The format a file of this name is read as, or null when the knowledge base does not read it. */
export function kbFormatOf(name: string): KbFormat | null {
  const reader = readerOf(name);
  if (reader === undefined) return null;
  return reader.startsWith('faq-') ? 'faq' : (reader as KbFormat);
}

export async function parseDocument(input: { name: string; bytes: Buffer }, limits: Partial<KbParseLimits> = {}): Promise<ParsedDocument> {
  const { name, bytes } = input;
  const { maxBytes, pdfTimeoutMs, pdfMemoryMb } = { ...DEFAULT_KB_PARSE_LIMITS, ...limits };
  const reader = readerOf(name);
  if (reader === undefined) {
    const ext = extensionOf(name);
    throw new PincerError('KB_FORMAT_UNSUPPORTED', `${name}: the knowledge base does not read ${ext === '' ? 'files without an extension' : `${ext} files`} (it reads ${KB_EXTENSIONS.join(' ')})`, { file: name });
  }
  if (bytes.length > maxBytes) {
    throw new PincerError('KB_FILE_TOO_LARGE', `${name}: ${bytes.length} bytes, more than the limit of ${maxBytes} (kb.max_file_size)`, { file: name, bytes: bytes.length, limit: maxBytes });
  }
  if (reader === 'pdf') return parsePdf(bytes, name, { timeoutMs: pdfTimeoutMs, memoryMb: pdfMemoryMb });
  // A NUL byte is in no text file: an image or an archive renamed, whose "text" would be noise.
  const nul = bytes.indexOf(0);
  if (nul !== -1) throw parseFailed(name, `a binary file, not text (a NUL byte at offset ${nul})`);
  switch (reader) {
    case 'markdown':
      return parseMarkdown(decodeText(bytes), name);
    case 'text':
      return parseText(decodeText(bytes), name);
    case 'html': {
      // turndown and its DOM are loaded on the first HTML file, not with every server start.
      const { parseHtml } = await import('./html.js');
      return parseHtml(decodeText(bytes), name);
    }
    case 'faq-yaml':
      return parseFaqYaml(decodeText(bytes), name);
    case 'faq-json':
      return parseFaqJson(decodeText(bytes), name);
    case 'faq-csv':
      return parseFaqCsv(decodeText(bytes), name);
  }
}
