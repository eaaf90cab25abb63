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

  test('numbered headings of a rendered manual: alone, wrapped, nested by their numbers, with an indented body', () => {
    const source = [
      'Chapter\u00a01.\u00a0Definitions', // 1
      '', // 2
      '1.1. What is this FAQ?', // 3
      '', // 4
      '    It answers questions.', // 5
      '', // 6
      '1.2. A long question that wraps', // 7
      'onto a second line?', // 8
      '', // 9
      '    The answer.', // 10
      '', // 11
      'Steps:', // 12
      '', // 13
      '1. Not a heading: no indented body follows', // 14
      '', // 15
      '2. Nor this', // 16
    ].join('\n');
    const doc = parseText(source, 'manual.txt');
    expect(doc.sections.map((s) => [s.headingPath, s.lineStart, s.lineEnd])).toEqual([
      [['Chapter 1. Definitions', '1.1. What is this FAQ?'], 5, 5],
      [['Chapter 1. Definitions', '1.2. A long question that wraps onto a second line?'], 10, 16],
    ]);
    expect(doc.title).toBe('manual');
  });
});
