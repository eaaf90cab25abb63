import { describe, expect, test } from 'vitest';
import { isErrorCode } from '../../../src/errors.js';
import { jsonErrorOffset, parseFaqCsv, parseFaqJson, parseFaqYaml } from '../../../src/kb/parse/faq.js';
import type { ParsedDocument } from '../../../src/kb/types.js';

function failure(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

const good = [
  { question: 'How do I reset my password?', alternatives: ['forgot password', 'password reset'], answer: 'Use the link on the sign-in page.', tags: ['account'] },
  { question: 'Do you ship abroad?', alternatives: [], answer: 'Yes, to 40 countries.', tags: [] },
];

describe('FAQ files', () => {
  test('YAML under faq: with a title; an entry without an answer is left out with its line, the rest kept', () => {
    const yaml = [
      'title: Shop FAQ', // 1
      'faq:', // 2
      '  - question: How do I reset my password?', // 3
      '    alternatives: [forgot password, password reset]', // 4
      '    answer: Use the link on the sign-in page.', // 5
      '    tags: account', // 6
      '  - question: What is broken?', // 7
      '  - question: Do you ship abroad?', // 8
      '    answer: Yes, to 40 countries.', // 9
    ].join('\n');
    const doc = parseFaqYaml(yaml, 'shop.yaml');
    expect(doc.title).toBe('Shop FAQ');
    expect(doc.format).toBe('faq');
    expect(doc.sections).toEqual([]);
    expect(doc.faqs).toEqual([
      { ...good[0], line: 3 },
      { ...good[1], line: 8 },
    ]);
    expect(doc.problems).toEqual(['shop.yaml:7: entry 2 has no answer (question: "What is broken?"); left out']);
  });

  test('YAML as a top-level list; the title is the file name', () => {
    const doc = parseFaqYaml('- question: Q1\n  answer: A1\n- question: Q2\n  answer: A2\n', 'help/faq.yml');
    expect(doc.title).toBe('faq');
    expect(doc.faqs.map((f) => [f.question, f.answer, f.line])).toEqual([
      ['Q1', 'A1', 1],
      ['Q2', 'A2', 3],
    ]);
    expect(doc.problems).toBeUndefined();
  });

  test('JSON: a list; a bad entry named by its line and index, the good ones kept', () => {
    const json = JSON.stringify([good[0], { answer: 'orphan answer' }, good[1], 'not an object'], null, 2);
    const doc = parseFaqJson(json, 'faq.json');
    expect(doc.faqs.map((f) => f.question)).toEqual([good[0]?.question, good[1]?.question]);
    expect(doc.faqs[0]).toEqual({ ...good[0], line: 2 });
    expect(doc.problems).toHaveLength(2);
    expect(doc.problems?.[0]).toMatch(/^faq\.json:\d+: entry 2 has no question \(answer: "orphan answer"\); left out$/);
    expect(doc.problems?.[1]).toMatch(/^faq\.json:\d+: entry 4 is not a \{question, answer\} mapping; left out$/);
  });

  test('JSON under faq:, and invalid JSON is KB_PARSE_FAILED with its line', () => {
    expect(parseFaqJson(JSON.stringify({ faq: [good[1]] }), 'f.json').faqs).toEqual([{ ...good[1], line: 1 }]);
    const err = failure(() => parseFaqJson('[\n  {"question": "a",\n  "answer": }\n]', 'bad.json'));
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
    expect(err.message).toMatch(/^bad\.json:3: not valid JSON/);
  });

  test('CSV: header row in any column order, | separates alternatives and tags, quoted fields; a bad row left out', () => {
    const csv = [
      'answer,question,tags,alternatives', // 1
      '"Use the link on the sign-in page.",How do I reset my password?,account,forgot password|password reset', // 2
      ',Question without answer,,', // 3
      '"Yes, to 40 countries.",Do you ship abroad?,,', // 4
      'too,few', // 5
    ].join('\r\n');
    const doc = parseFaqCsv(csv, 'faq.csv');
    expect(doc.faqs).toEqual([
      { ...good[0], line: 2 },
      { ...good[1], line: 4 },
    ]);
    expect(doc.problems).toEqual([
      'faq.csv:5: row has 2 fields, the header 4; left out',
      'faq.csv:3: entry 2 has no answer (question: "Question without answer"); left out',
    ]);
  });

  test('CSV: a quoted answer over several lines and with "" quotes keeps the next row on its true line', () => {
    const csv = 'question,answer\n"Say ""hi""?","Line one,\nline two"\nNext?,Yes\n';
    const doc = parseFaqCsv(csv, 'q.csv');
    expect(doc.faqs.map((f) => [f.question, f.answer, f.line])).toEqual([
      ['Say "hi"?', 'Line one,\nline two', 2],
      ['Next?', 'Yes', 4],
    ]);
  });

  test('CSV without the question and answer columns, or with an unclosed quote, is KB_PARSE_FAILED with the line', () => {
    const noHeader = failure(() => parseFaqCsv('q,a\nx,y', 'h.csv'));
    expect(isErrorCode(noHeader, 'KB_PARSE_FAILED')).toBe(true);
    expect(noHeader.message).toMatch(/^h\.csv:1: the header row must name the columns question and answer/);
    const unclosed = failure(() => parseFaqCsv('question,answer\nok,fine\n"open,never closed\n', 'u.csv'));
    expect(unclosed.message).toBe('u.csv:3: not valid CSV: a quoted field is never closed');
  });

  test('a file whose every entry is bad fails as a whole, listing them', () => {
    const err = failure(() => parseFaqYaml('- question: only a question\n- answer: only an answer\n', 'all-bad.yaml'));
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
    expect(err.message).toContain('all-bad.yaml:1: entry 1 has no answer');
    expect(err.message).toContain('all-bad.yaml:2: entry 2 has no question');
  });

  test('something else than a list is KB_PARSE_FAILED; an empty file is an empty FAQ', () => {
    expect(isErrorCode(failure(() => parseFaqYaml('just: a mapping\n', 'm.yaml')), 'KB_PARSE_FAILED')).toBe(true);
    expect(isErrorCode(failure(() => parseFaqYaml('- [unclosed\n', 'y.yaml')), 'KB_PARSE_FAILED')).toBe(true);
    const empty: ParsedDocument = parseFaqYaml('', 'e.yaml');
    expect(empty.faqs).toEqual([]);
  });

  test('non-string alternatives are a problem of that entry only', () => {
    const doc = parseFaqYaml('- question: a\n  answer: b\n  alternatives: {x: 1}\n- question: c\n  answer: d\n', 'alt.yaml');
    expect(doc.faqs.map((f) => f.question)).toEqual(['c']);
    expect(doc.problems).toEqual(['alt.yaml:1: entry 1 has alternatives that are not a list of strings; left out']);
  });

  test('the offset of a JSON syntax error is found whether or not Node names it', () => {
    for (const [text, bad] of [
      ['[\n  {"a": 1},\n  {"b": 2},\n]', '\n]'],
      ['{"a": tru}', '}'],
      ['[1, 2 3]', '3'],
      ['{"a": "x"} extra', 'extra'],
    ] as const) {
      let message = '';
      try {
        JSON.parse(text);
      } catch (err) {
        message = (err as Error).message;
      }
      const offset = jsonErrorOffset(text, message);
      expect(offset, text).toBeGreaterThanOrEqual(text.indexOf(bad) - 1);
      expect(offset, text).toBeLessThanOrEqual(text.indexOf(bad) + bad.length);
    }
  });
});
