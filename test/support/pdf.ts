/**
 * A small valid PDF made in code (no binary fixture): a catalog, a page tree, Helvetica, and
 * per page a page object and a content stream drawing each line with Tf/Tj, plus a computed
 * xref table. Text is written as PDF literal strings, so keep it to printable ASCII.
 */
export function makePdf(pages: readonly (readonly string[])[], options: { title?: string } = {}): Buffer {
  const objects: string[] = [];
  const infoRef = options.title === undefined ? null : 4 + 2 * pages.length;
  objects.push('<< /Type /Catalog /Pages 2 0 R >>');
  const kids = pages.map((_, i) => `${4 + 2 * i} 0 R`).join(' ');
  objects.push(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>`);
  objects.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  pages.forEach((lines, i) => {
    const draw = lines.map((line) => `(${escapePdf(line)}) Tj 0 -16 Td`).join(' ');
    const content = `BT /F1 12 Tf 72 720 Td ${draw} ET`;
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + 2 * i} 0 R >>`);
    objects.push(`<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`);
  });
  if (options.title !== undefined) objects.push(`<< /Title (${escapePdf(options.title)}) >>`);
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${infoRef === null ? '' : ` /Info ${infoRef} 0 R`} >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

function escapePdf(text: string): string {
  return text.replace(/[\\()]/g, (c) => `\\${c}`);
}
