import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CsvError, parseCsv } from '../../../src/kb/parse/csv.js';

/** A field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break. */
function quote(field: string): string {
  return /[",\n]/.test(field) || field === '' ? `"${field.replace(/"/g, '""')}"` : field;
}

describe('CSV (RFC 4180)', () => {
  test('plain, quoted, empty and doubled-quote fields; blank lines are no rows', () => {
    expect(parseCsv('a,b,c\n1,"two, too",""\n\n"say ""x""",,end\n')).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', 'two, too', ''] },
      { line: 4, fields: ['say "x"', '', 'end'] },
    ]);
  });

  test('text after a closing quote is an error with its line; white space there is forgiven', () => {
    expect(parseCsv('"a"  ,b')).toEqual([{ line: 1, fields: ['a', 'b'] }]);
    expect(() => parseCsv('x\n"a"b,c')).toThrow(CsvError);
    try {
      parseCsv('x\n"a"b,c');
    } catch (err) {
      expect((err as CsvError).line).toBe(2);
    }
  });

  test('any table written with RFC 4180 quoting reads back the same, each row on the line it starts', () => {
    const table = fc.array(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', 'é', '中') }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(table, (rows) => {
        const text = rows.map((r) => r.map(quote).join(',')).join('\n');
        const parsed = parseCsv(text);
        expect(parsed.map((r) => r.fields)).toEqual(rows);
        let line = 1;
        rows.forEach((row, i) => {
          expect(parsed[i]?.line).toBe(line);
          line += row.map(quote).join(',').split('\n').length;
        });
      }),
    );
  });
});
