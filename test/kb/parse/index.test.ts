import { describe, expect, test } from 'vitest';
import { isErrorCode } from '../../../src/errors.js';
import { KB_EXTENSIONS, kbFormatOf, parseDocument } from '../../../src/kb/parse/index.js';

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err as Error,
  );
}

describe('parseDocument', () => {
  test('the format follows the extension, in any case', () => {
    expect(KB_EXTENSIONS).toEqual(['.md', '.markdown', '.txt', '.html', '.htm', '.pdf', '.yaml', '.yml', '.json', '.csv']);
    expect(['a.md', 'b.MARKDOWN', 'c.txt', 'd.Html', 'e.htm', 'f.pdf', 'g.yaml', 'h.yml', 'i.json', 'j.CSV'].map(kbFormatOf)).toEqual([
      'markdown',
      'markdown',
      'text',
      'html',
      'html',
      'pdf',
      'faq',
      'faq',
      'faq',
      'faq',
    ]);
    expect(kbFormatOf('notes.docx')).toBeNull();
    expect(kbFormatOf('README')).toBeNull();
    expect(kbFormatOf('.md')).toBeNull();
  });

  test('each text format is read by its parser', async () => {
    const read = (name: string, text: string): Promise<{ format: string; sections: number; faqs: number }> =>
      parseDocument({ name, bytes: Buffer.from(text) }).then((d) => ({ format: d.format, sections: d.sections.length, faqs: d.faqs.length }));
    expect(await read('a.md', '# A\ntext\n# B\nmore')).toEqual({ format: 'markdown', sections: 2, faqs: 0 });
    expect(await read('a.txt', '# A\ntext')).toEqual({ format: 'text', sections: 1, faqs: 0 });
    expect(await read('a.html', '<h1>A</h1><p>x</p><h2>B</h2><p>y</p>')).toEqual({ format: 'html', sections: 2, faqs: 0 });
    expect(await read('a.yml', '- {question: q, answer: a}')).toEqual({ format: 'faq', sections: 0, faqs: 1 });
    expect(await read('a.json', '[{"question": "q", "answer": "a"}]')).toEqual({ format: 'faq', sections: 0, faqs: 1 });
    expect(await read('a.csv', 'question,answer\nq,a')).toEqual({ format: 'faq', sections: 0, faqs: 1 });
  });

  test('an unknown extension is KB_FORMAT_UNSUPPORTED naming the file and the formats read', async () => {
    const err = await failure(parseDocument({ name: 'slides.pptx', bytes: Buffer.from('x') }));
    expect(isErrorCode(err, 'KB_FORMAT_UNSUPPORTED')).toBe(true);
    expect(err.message).toBe('slides.pptx: the knowledge base does not read .pptx files (it reads .md .markdown .txt .html .htm .pdf .yaml .yml .json .csv)');
  });

  test('a file over the size limit is KB_FILE_TOO_LARGE before it is read', async () => {
    const err = await failure(parseDocument({ name: 'big.md', bytes: Buffer.alloc(11, 'a') }, { maxBytes: 10 }));
    expect(isErrorCode(err, 'KB_FILE_TOO_LARGE')).toBe(true);
    expect(err.message).toBe('big.md: 11 bytes, more than the limit of 10 (kb.max_file_size)');
    await expect(parseDocument({ name: 'ok.md', bytes: Buffer.alloc(10, 'a') }, { maxBytes: 10 })).resolves.toMatchObject({ format: 'markdown' });
  });

  test('a binary file with a text extension is KB_PARSE_FAILED', async () => {
    const err = await failure(parseDocument({ name: 'photo.txt', bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x1a]) }));
    expect(isErrorCode(err, 'KB_PARSE_FAILED')).toBe(true);
    expect(err.message).toBe('photo.txt: a binary file, not text (a NUL byte at offset 4)');
  });
});
