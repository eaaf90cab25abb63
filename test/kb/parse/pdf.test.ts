import { describe, expect, test } from 'vitest';
import { isErrorCode, PincerError } from '../../../src/errors.js';
import { parseDocument } from '../../../src/kb/parse/index.js';
import { pageText } from '../../../src/kb/parse/pdf-worker.js';
import { makePdf } from '../../support/pdf.js';

describe('PDF', () => {
  test('a generated two-page PDF gives a section per page, numbered from 1, with its text', async () => {
    const bytes = makePdf([['Installing Pincer', 'Run npm start to begin.'], ['Second page (about backups)']], { title: 'Pincer Guide' });
    const doc = await parseDocument({ name: 'guide.pdf', bytes });
    expect(doc.format).toBe('pdf');
    expect(doc.title).toBe('Pincer Guide');
    expect(doc.sections.map((s) => s.page)).toEqual([1, 2]);
    expect(doc.sections[0]?.text).toBe('Installing Pincer\nRun npm start to begin.');
    expect(doc.sections[1]?.text).toBe('Second page (about backups)');
    expect(doc.sections.every((s) => s.lineStart === null && s.lineEnd === null && s.headingPath.length === 0)).toBe(true);
  });

  test('without a title in its metadata, the title is the file name', async () => {
    const doc = await parseDocument({ name: 'docs/manual.pdf', bytes: makePdf([['Hello']]) });
    expect(doc.title).toBe('manual');
  });

  test('a page without text is left out, the others keep their page numbers', async () => {
    const doc = await parseDocument({ name: 'x.pdf', bytes: makePdf([['one'], [], ['three']]) });
    expect(doc.sections.map((s) => [s.page, s.text])).toEqual([
      [1, 'one'],
      [3, 'three'],
    ]);
  });

  test('a corrupt PDF is KB_PARSE_FAILED naming the file', async () => {
    const err = await parseDocument({ name: 'broken.pdf', bytes: Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PincerError);
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/^broken\.pdf: not a readable PDF/);
  });

  test('a truncated PDF (its second half missing) is KB_PARSE_FAILED, not a hang', async () => {
    const whole = makePdf([['Some text'], ['More text']]);
    const err = await parseDocument({ name: 'cut.pdf', bytes: whole.subarray(0, Math.floor(whole.length / 3)) }).catch((e: unknown) => e);
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
  });

  test('a parse that outlasts its time limit is stopped: KB_PARSE_TIMEOUT', async () => {
    // 1 ms is less than the thread needs to load pdf.js, so the limit always fires first.
    const err = await parseDocument({ name: 'slow.pdf', bytes: makePdf([['text']]) }, { pdfTimeoutMs: 1 }).catch((e: unknown) => e);
    expect(isErrorCode(err, 'KB_PARSE_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain('slow.pdf');
  });

  test('a thread out of heap is KB_PARSE_FAILED saying so, and the server goes on', async () => {
    // 2 MB of old generation cannot even hold pdf.js itself.
    const err = await parseDocument({ name: 'big.pdf', bytes: makePdf([['text']]) }, { pdfMemoryMb: 2 }).catch((e: unknown) => e);
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
    expect((err as Error).message).toBe('big.pdf: parsing the PDF needed more than its 2 MB of memory; it was stopped');
    const after = await parseDocument({ name: 'ok.pdf', bytes: makePdf([['still works']]) });
    expect(after.sections[0]?.text).toBe('still works');
  });
});

describe('pageText', () => {
  test('joins items on a line, breaks where the text moves down, and a blank line at a paragraph gap', () => {
    const at = (str: string, y: number, hasEOL = false): { str: string; transform: number[]; height: number; hasEOL: boolean } => ({ str, transform: [12, 0, 0, 12, 72, y], height: 12, hasEOL });
    expect(pageText([at('Hello ', 700), at('world', 700), at('next line', 686), at('new paragraph', 640)])).toBe('Hello world\nnext line\n\nnew paragraph');
    expect(pageText([at('ends', 700, true), at('same y after EOL', 700)])).toBe('ends\nsame y after EOL');
  });
});
