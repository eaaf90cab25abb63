/**
 * CSV as RFC 4180 says: fields separated by commas, a field in double quotes may hold commas,
 * line breaks and doubled quotes (`""`). Each row keeps the line it starts on, so a problem in
 * a FAQ row names its line even after a quoted field ran over several lines.
 */
export interface CsvRow {
  line: number;
  fields: string[];
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let quoted = false;
  let quoteLine = 0;
  // Whether the current field was quoted: after its closing quote only a separator may follow.
  let closed = false;
  const endRow = (): void => {
    fields.push(field);
    // A blank line is no row (a trailing newline, a spacer between rows).
    if (!(fields.length === 1 && fields[0] === '' && !closed)) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
    closed = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
          closed = true;
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === ',') {
      fields.push(field);
      field = '';
      closed = false;
    } else if (ch === '\n') {
      endRow();
      line++;
      rowLine = line;
    } else if (ch === '"' && field === '' && !closed) {
      quoted = true;
      quoteLine = line;
    } else if (closed && (ch === ' ' || ch === '\t')) {
      // White space between a closing quote and the separator is forgiven.
    } else if (closed) {
      throw new CsvError(`a character after the closing quote of a field (${JSON.stringify(ch)}); a quote inside a quoted field is written ""`, line);
    } else {
      field += ch;
    }
  }
  if (quoted) throw new CsvError('a quoted field is never closed', quoteLine);
  if (field !== '' || fields.length > 0 || closed) endRow();
  return rows;
}
