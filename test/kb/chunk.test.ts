import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isErrorCode } from '../../src/errors.js';
import { chunkDocument, chunkHash, chunkTokens, DEFAULT_CHUNK_OPTIONS, pack, sectionSpans } from '../../src/kb/chunk.js';
import { parseMarkdown } from '../../src/kb/parse/markdown.js';
import type { KbSection, ParsedDocument } from '../../src/kb/types.js';

function doc(sections: KbSection[], faqs: ParsedDocument['faqs'] = []): ParsedDocument {
  return { title: 'T', format: 'markdown', sections, faqs };
}

function sectionOf(text: string, lineStart: number | null = 1, extra: Partial<KbSection> = {}): KbSection {
  return { headingPath: ['H'], text, lineStart, lineEnd: lineStart === null ? null : lineStart + text.split('\n').length - 1, page: null, ...extra };
}

const words = (n: number, word = 'word'): string => Array.from({ length: n }, (_, i) => `${word}${i}`).join(' ');

describe('chunkDocument', () => {
  test('defaults are the design’s: 400 tokens, 60 overlap', () => {
    expect(DEFAULT_CHUNK_OPTIONS).toEqual({ targetTokens: 400, overlapTokens: 60, maxChunks: 200_000 });
  });

  test('a short section is one chunk: its text, lines, page, questions, tokens and hash', () => {
    const section = sectionOf('Pincer answers from your documents.\n\nIt cites them.', 10, { questions: ['What does it do?'] });
    const [chunk, ...rest] = chunkDocument(doc([section]));
    expect(rest).toEqual([]);
    expect(chunk).toEqual({
      ordinal: 0,
      kind: 'section',
      headingPath: ['H'],
      questions: ['What does it do?'],
      text: section.text,
      lineStart: 10,
      lineEnd: 12,
      page: null,
      tokens: chunkTokens(section.text),
      hash: chunkHash({ kind: 'section', headingPath: ['H'], questions: ['What does it do?'], text: section.text }),
    });
    expect(chunk?.tokens).toBe(Math.ceil((8 * 4) / 3));
  });

  test('FAQ entries are a chunk each: the answer as text, question and alternatives as questions', () => {
    const chunks = chunkDocument(doc([sectionOf('Intro.')], [
      { question: 'Q1?', alternatives: ['Alt 1', 'Alt 2'], answer: words(1000), tags: ['t'], line: 3 },
      { question: 'Q2?', alternatives: [], answer: 'Short.', tags: [], line: null },
    ]), { targetTokens: 50 });
    expect(chunks.map((c) => [c.ordinal, c.kind, c.questions, c.lineStart, c.lineEnd])).toEqual([
      [0, 'section', [], 1, 1],
      [1, 'faq', ['Q1?', 'Alt 1', 'Alt 2'], 3, 3],
      [2, 'faq', ['Q2?'], null, null],
    ]);
    // An answer is never cut, however long.
    expect(chunks[1]?.text).toBe(words(1000));
  });

  test('a long section is cut between paragraphs, with overlap, and each piece has its own lines', () => {
    const paragraphs = Array.from({ length: 6 }, (_, i) => `${words(30, `p${i}w`)}.`);
    const text = paragraphs.join('\n\n');
    const chunks = chunkDocument(doc([sectionOf(text, 101)]), { targetTokens: 100, overlapTokens: 45 });
    // 30 words are 40 tokens: two paragraphs fit in 100, and one (40 ≤ 45) is repeated.
    expect(chunks.map((c) => c.text)).toEqual([
      paragraphs.slice(0, 2).join('\n\n'),
      paragraphs.slice(1, 3).join('\n\n'),
      paragraphs.slice(2, 4).join('\n\n'),
      paragraphs.slice(3, 5).join('\n\n'),
      paragraphs.slice(4, 6).join('\n\n'),
    ]);
    expect(chunks.map((c) => [c.lineStart, c.lineEnd])).toEqual([
      [101, 103],
      [103, 105],
      [105, 107],
      [107, 109],
      [109, 111],
    ]);
  });

  test('a paragraph longer than a chunk is cut between sentences, and a sentence longer than one between words', () => {
    // Capitals after the full stops: a lower-case word after one is no new sentence (UAX #29).
    const sentences = Array.from({ length: 8 }, (_, i) => `${words(20, `S${i}w`)}.`);
    const chunks = chunkDocument(doc([sectionOf(sentences.join(' '))]), { targetTokens: 60, overlapTokens: 0 });
    expect(chunks.map((c) => c.text)).toEqual([0, 2, 4, 6].map((i) => sentences.slice(i, i + 2).join(' ')));
    const runOn = chunkDocument(doc([sectionOf(words(300))]), { targetTokens: 40, overlapTokens: 0 });
    expect(runOn.every((c) => c.tokens <= 40)).toBe(true);
    expect(runOn.map((c) => c.text).join(' ')).toBe(words(300));
  });

  test('Chinese without spaces is cut by the segmenter’s words, within the target', () => {
    const text = '知识库回答问题'.repeat(200);
    const chunks = chunkDocument(doc([sectionOf(text)]), { targetTokens: 50, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.every((c) => c.tokens <= 50)).toBe(true);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
  });

  test('a code fence or a table larger than a chunk is a chunk of its own, whole; never repeated as overlap', () => {
    const fence = '```js\n' + Array.from({ length: 80 }, (_, i) => `const v${i} = ${i}; // # not a heading`).join('\n') + '\n```';
    const table = '| key | value |\n|-----|-------|\n' + Array.from({ length: 60 }, (_, i) => `| k${i} | v${i} and more words |`).join('\n');
    const text = ['Before the fence.', fence, 'Between.', table, 'After the table.'].join('\n\n');
    const chunks = chunkDocument(doc([sectionOf(text, 1)]), { targetTokens: 60, overlapTokens: 30 });
    expect(chunks.map((c) => c.text)).toEqual(['Before the fence.', fence, 'Between.', table, 'After the table.']);
    const fenceChunk = chunks[1];
    expect([fenceChunk?.lineStart, fenceChunk?.lineEnd]).toEqual([3, 84]);
  });

  test('a long list whose items hold a fence is cut between items, never inside the fence', () => {
    const item = (i: number): string => `- Step ${i}: ${words(20)}\n\n  \`\`\`\n  run step ${i}\n  # still code\n  \`\`\``;
    const text = Array.from({ length: 6 }, (_, i) => item(i)).join('\n');
    const chunks = chunkDocument(doc([sectionOf(text)]), { targetTokens: 70, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect((c.text.match(/```/g) ?? []).length % 2).toBe(0);
  });

  test('a PDF page has no lines: its chunks carry the page instead', () => {
    const chunks = chunkDocument(doc([{ headingPath: [], text: `${words(50)}.\n\n${words(50)}.`, lineStart: null, lineEnd: null, page: 7 }]), { targetTokens: 70, overlapTokens: 0 });
    expect(chunks.map((c) => [c.page, c.lineStart, c.lineEnd])).toEqual([
      [7, null, null],
      [7, null, null],
    ]);
  });

  test('more chunks than maxChunks is KB_TOO_MANY_CHUNKS', () => {
    let caught: unknown;
    try {
      chunkDocument(doc([sectionOf('a'), sectionOf('b'), sectionOf('c')]), { maxChunks: 2 });
    } catch (err) {
      caught = err;
    }
    expect(isErrorCode(caught, 'KB_TOO_MANY_CHUNKS')).toBe(true);
    expect(chunkDocument(doc([sectionOf('a'), sectionOf('b')]), { maxChunks: 2 })).toHaveLength(2);
  });

  test('an edit changes the hashes of the chunks it touches only', () => {
    const source = (middle: string): string => `# A\n\nFirst section.\n\n# B\n\n${middle}\n\n# C\n\nThird section.`;
    const before = chunkDocument(parseMarkdown(source('Second section.'), 'x.md'));
    const again = chunkDocument(parseMarkdown(source('Second section.'), 'x.md'));
    const after = chunkDocument(parseMarkdown(`Preface.\n\n${source('Second section, edited.')}`, 'x.md'));
    expect(again.map((c) => c.hash)).toEqual(before.map((c) => c.hash));
    expect(after.map((c) => c.hash)).toEqual([expect.any(String), before[0]?.hash, expect.not.stringMatching(before[1]?.hash ?? ''), before[2]?.hash]);
    // The heading path and the questions are part of a chunk's identity, not only its text.
    const base = { kind: 'section', headingPath: ['A'], questions: [], text: 'same' } as const;
    expect(new Set([chunkHash(base), chunkHash({ ...base, headingPath: ['B'] }), chunkHash({ ...base, questions: ['q'] }), chunkHash({ ...base, kind: 'faq' }), chunkHash({ ...base, headingPath: ['A', ''] })]).size).toBe(5);
  });
});

describe('pack', () => {
  test('takes at least one unit, fits the target, and drops the overlap when the next unit would not fit with it', () => {
    const u = (tokens: number, whole = false): { tokens: number; whole: boolean } => ({ tokens, whole });
    expect(pack([u(5), u(5), u(5)], 10, 5)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(pack([u(50, true), u(5)], 10, 5)).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(pack([u(4), u(4), u(9)], 10, 4)).toEqual([
      [0, 1],
      [2, 2],
    ]);
  });
});

/** Blocks of a Markdown section as a generator makes them, the fences and tables known by offset. */
interface Block {
  text: string;
  whole: boolean;
}

const word = fc.constantFrom('pincer', 'bot', 'queue', 'store', 'chunk', 'answer', 'index', 'token', 'reply', 'file', 'δοκιμή', '知识库');
const sentence = fc.array(word, { minLength: 1, maxLength: 25 }).chain((ws) => fc.boolean().map((upper) => `${upper ? ws.join(' ').replace(/^./, (c) => c.toUpperCase()) : ws.join(' ')}.`));
const paragraph = fc.array(sentence, { minLength: 1, maxLength: 8 }).chain((ss) => fc.constantFrom(' ', '\n').map((sep) => ss.join(sep)));
const fenceLine = fc.oneof(fc.array(word, { maxLength: 10 }).map((ws) => ws.join(' ')), fc.constantFrom('# not a heading', '| a | b |', '', '- item.', 'End. Next.'));
const fence = fc.array(fenceLine, { minLength: 1, maxLength: 30 }).map((lines) => `\`\`\`\n${lines.join('\n')}\n\`\`\``);
const table = fc
  .array(fc.tuple(word, fc.array(word, { minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 20 })
  .map((rows) => `| key | value |\n| --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v.join(' ')}. |`).join('\n')}`);
const list = fc.array(sentence, { minLength: 1, maxLength: 10 }).map((items) => items.map((s) => `- ${s}`).join('\n'));
const block: fc.Arbitrary<Block> = fc.oneof(
  { weight: 4, arbitrary: paragraph.map((text) => ({ text, whole: false })) },
  { weight: 1, arbitrary: fence.map((text) => ({ text, whole: true })) },
  { weight: 1, arbitrary: table.map((text) => ({ text, whole: true })) },
  { weight: 1, arbitrary: list.map((text) => ({ text, whole: false })) },
);

describe('chunkDocument properties', () => {
  test('chunks cover the section in order, never cut a fence or a table, keep within the target, and name their true lines', () => {
    fc.assert(
      fc.property(
        fc.array(block, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 10, max: 300 }),
        fc.integer({ min: 0, max: 150 }),
        (blocks, lineStart, target, overlap) => {
          const text = blocks.map((b) => b.text).join('\n\n');
          const spans: [number, number, boolean][] = [];
          let at = 0;
          for (const b of blocks) {
            spans.push([at, at + b.text.length, b.whole]);
            at += b.text.length + 2;
          }
          const section = sectionOf(text, lineStart);
          const chunks = chunkDocument(doc([section]), { targetTokens: target, overlapTokens: overlap });
          const ranges = sectionSpans(text, target, Math.min(overlap, Math.floor(target / 2)));
          expect(chunks.map((c) => c.text)).toEqual(ranges.map(([s, e]) => text.slice(s, e)));

          // In order, and every non-space character of the section is in some chunk.
          const covered = new Uint8Array(text.length);
          ranges.forEach(([s, e], i) => {
            if (i > 0) expect(s).toBeGreaterThan(ranges[i - 1]?.[0] ?? -1);
            covered.fill(1, s, e);
          });
          for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i] ?? '')) expect(covered[i], `character ${i} is in a chunk`).toBe(1);

          for (const [c, [s, e]] of chunks.map((c, i) => [c, ranges[i] ?? [0, 0]] as const)) {
            // A fence or a table is inside a chunk whole, or not in it at all.
            for (const [bs, be, whole] of spans) if (whole && s < be && e > bs) expect(s <= bs && e >= be, `chunk ${c.ordinal} holds block ${bs}-${be} whole`).toBe(true);
            // Within the target, unless the chunk is one oversized fence or table.
            const oneWhole = spans.some(([bs, be, whole]) => whole && bs === s && be === e);
            if (!oneWhole) expect(c.tokens).toBeLessThanOrEqual(target);
            // Lines: those of the slice, within the section's.
            const before = text.slice(0, s).split('\n').length - 1;
            expect(c.lineStart).toBe(lineStart + before);
            expect(c.lineEnd).toBe(lineStart + before + c.text.split('\n').length - 1);
            expect(c.lineStart).toBeGreaterThanOrEqual(section.lineStart ?? 0);
            expect(c.lineEnd).toBeLessThanOrEqual(section.lineEnd ?? 0);
            expect(c.text).toBe(c.text.trim() === '' ? '' : c.text);
            expect(c.text.trim()).not.toBe('');
          }

          // Hashes: the same run gives the same; chunks differing in text differ in hash.
          expect(chunkDocument(doc([section]), { targetTokens: target, overlapTokens: overlap }).map((c) => c.hash)).toEqual(chunks.map((c) => c.hash));
          const byHash = new Map<string, string>();
          for (const c of chunks) {
            const seen = byHash.get(c.hash);
            if (seen !== undefined) expect(seen).toBe(c.text);
            byHash.set(c.hash, c.text);
          }
          expect(new Set(chunks.map((c) => c.text)).size).toBe(new Set(chunks.map((c) => c.hash)).size);
        },
      ),
      { numRuns: 200 },
    );
  });
});
