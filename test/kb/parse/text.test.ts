import { describe, expect, test } from 'vitest';
import { parseText } from '../../../src/kb/parse/text.js';

describe('plain text', () => {
  test('paragraphs under underlined headings, with their lines; the first === heading is the title', () => {
    const source = [
      'Pincer FAQ', // 1
      '==========', // 2
      '', // 3
      'First paragraph', // 4
      'goes on here.', // 5
      '', // 6
      'Second paragraph.', // 7
      '', // 8
      'Installing', // 9
      '----------', // 10
      'Run npm start.', // 11
      '', // 12
      '', // 13
    ].join('\n');
    const doc = parseText(source, 'faq.txt');
    expect(doc.title).toBe('Pincer FAQ');
    expect(doc.format).toBe('text');
    expect(doc.sections).toEqual([
      { headingPath: ['Pincer FAQ'], text: 'First paragraph\ngoes on here.\n\nSecond paragraph.', lineStart: 4, lineEnd: 7, page: null },
      { headingPath: ['Pincer FAQ', 'Installing'], text: 'Run npm start.', lineStart: 11, lineEnd: 11, page: null },
    ]);
  });

  test('a --- under a line of a running paragraph is no heading; text without headings is one section named by the file', () => {
    const source = 'some text\ncontinues\n---\nafter';
    const doc = parseText(source, 'notes/plain.txt');
    expect(doc.title).toBe('plain');
    expect(doc.sections).toEqual([{ headingPath: [], text: source, lineStart: 1, lineEnd: 4, page: null }]);
  });

  test('a second level-1 heading starts a new path', () => {
    const doc = parseText('A\n===\n\nB sub\n---\nx\n\nC\n===\ny', 't.txt');
    expect(doc.sections.map((s) => [s.headingPath, s.text, s.lineStart])).toEqual([
      [['A', 'B sub'], 'x', 6],
      [['C'], 'y', 10],
    ]);
  });
});
