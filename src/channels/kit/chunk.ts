/**
 * Split rendered text into messages within a platform's limit. Splits go at a paragraph,
 * else a line, else a sentence, else a space, else anywhere; never inside an atomic element
 * (a link) or a tag or entity. Elements open at a split are closed at the chunk's end and
 * opened again at the next chunk's start, so every chunk is well-formed markup by itself and
 * a code block cut in two is two code blocks. Lengths are the rendered text's UTF-16 length,
 * which is never less than what a platform counts after parsing its markup.
 */

/** One piece of rendered text as a markup sees it. */
export type MarkupUnit =
  /** Visible characters. */
  | { kind: 'text'; text: string }
  /** One visible character written as markup ("&lt;"). */
  | { kind: 'entity'; raw: string; text: string }
  | { kind: 'open'; name: string; raw: string }
  | { kind: 'close'; name: string; raw: string }
  /** A self-contained element ("<br/>"), shown as `text`. */
  | { kind: 'void'; raw: string; text: string };

export interface OpenElement {
  name: string;
  /** The opening markup as written, repeated at the start of the next chunk. */
  raw: string;
}

/** What the chunker needs to know of a markup (Telegram HTML, Matrix HTML, Discord markdown). */
export interface Markup {
  scan(rendered: string): MarkupUnit[];
  /** The markup that closes `open` at the end of a chunk. */
  close(open: OpenElement): string;
  /** No split inside (a link): one is forced only when the element alone exceeds a chunk. */
  atomic(name: string): boolean;
  /** Whitespace inside is content (a code block): a split there keeps the next line's indentation. */
  preformatted(name: string): boolean;
  /** The visible text of rendered markup: what is sent instead when the platform rejects the markup. */
  plain(rendered: string): string;
}

export interface Chunk {
  /** Well-formed markup within the limit. */
  text: string;
  /** The chunk's visible text (its plain-text source). */
  plain: string;
}

type Atom =
  | { kind: 'char'; raw: string }
  | { kind: 'entity' | 'void'; raw: string }
  | { kind: 'open'; raw: string; name: string }
  | { kind: 'close'; raw: string; name: string };

/** The elements open at a boundary, as an immutable list so each boundary can keep its own. */
interface Stack {
  element: OpenElement;
  parent: Stack | null;
  /** Length of this and every enclosing element's opening markup. */
  openLen: number;
  /** Length of the markup closing this and every enclosing element. */
  closeLen: number;
  inAtomic: boolean;
  inPre: boolean;
}

type BreakClass = 0 | 1 | 2 | 3;
const PARAGRAPH = 0;
const LINE = 1;
const SENTENCE = 2;
const SPACE = 3;

/** A split point preferred by class is taken only if it fills at least this share of the chunk. */
const MIN_FILL = 0.5;

export function chunkRendered(rendered: string, limit: number, markup: Markup): Chunk[] {
  if (!Number.isInteger(limit) || limit < 16) throw new RangeError(`chunk limit ${limit}: at least 16`);
  const atoms = atomize(markup.scan(rendered), limit);
  const n = atoms.length;
  const stacks = stacksAt(atoms, markup);
  const pos = new Array<number>(n + 1);
  const visible = new Array<number>(n + 1);
  pos[0] = 0;
  visible[0] = 0;
  for (let k = 0; k < n; k++) {
    const atom = atoms[k]!;
    pos[k + 1] = pos[k]! + atom.raw.length;
    const shows = atom.kind === 'entity' || atom.kind === 'void' || (atom.kind === 'char' && /\S/u.test(atom.raw));
    visible[k + 1] = visible[k]! + (shows ? 1 : 0);
  }
  const total = (s: number, e: number): number =>
    (stacks[s]?.openLen ?? 0) + pos[e]! - pos[s]! + (stacks[e]?.closeLen ?? 0);
  const charAt = (k: number): string | undefined => {
    const atom = atoms[k];
    return atom?.kind === 'char' ? atom.raw : undefined;
  };

  const chunks: Chunk[] = [];
  const emit = (s: number, e: number): void => {
    let text = '';
    for (let st = stacks[s] ?? null, opens: string[] = []; ; st = st.parent) {
      if (st === null) {
        text = opens.reverse().join('');
        break;
      }
      opens.push(st.element.raw);
    }
    for (let k = s; k < e; k++) text += atoms[k]!.raw;
    for (let st = stacks[e] ?? null; st !== null; st = st.parent) text += markup.close(st.element);
    if (visible[e]! > visible[s]!) chunks.push({ text, plain: markup.plain(text) });
  };

  let s = skipLeading(atoms, stacks, 0, charAt);
  while (s < n) {
    if (total(s, n) <= limit) {
      emit(s, n);
      break;
    }
    const best: Array<{ e: number; skip: number } | undefined> = [undefined, undefined, undefined, undefined];
    let latest: { e: number; skip: number } | undefined;
    let hard: number | undefined;
    let forced: number | undefined;
    for (let e = s + 1; e < n && (stacks[s]?.openLen ?? 0) + pos[e]! - pos[s]! <= limit; e++) {
      if (total(s, e) > limit || visible[e]! === visible[s]! || atoms[e - 1]!.kind === 'open') continue;
      forced = e;
      const st = stacks[e] ?? null;
      if (st?.inAtomic) continue;
      hard = e;
      const c = charAt(e);
      const pre = st?.inPre ?? false;
      let cls: BreakClass | undefined;
      let skip = 1;
      if (c === '\n') {
        cls = charAt(e + 1) === '\n' && !pre ? PARAGRAPH : LINE;
        if (cls === PARAGRAPH) skip = 2;
      } else if (c === ' ' || c === '\t') {
        const before = charAt(e - 1);
        cls = before !== undefined && /[.!?…]/u.test(before) ? SENTENCE : SPACE;
        if (pre) skip = 0;
      }
      if (cls === undefined) continue;
      best[cls] = { e, skip };
      latest = { e, skip };
    }
    const fill = (e: number): number => pos[e]! - pos[s]!;
    let cut = best.find((b) => b !== undefined && fill(b.e) >= MIN_FILL * limit) ?? latest;
    // Nothing but a hard split fits: cut anywhere, inside a link only when the link alone is too long.
    cut ??= hard !== undefined ? { e: hard, skip: 0 } : { e: forced ?? s + 1, skip: 0 };
    emit(s, cut.e);
    s = skipLeading(atoms, stacks, cut.e + cut.skip, charAt);
  }
  return chunks;
}

/** A chunk does not start with whitespace (outside code) or with markup closing what it would reopen. */
function skipLeading(atoms: Atom[], stacks: Array<Stack | null>, from: number, charAt: (k: number) => string | undefined): number {
  let k = from;
  for (;;) {
    const atom = atoms[k];
    if (atom === undefined) return k;
    if (atom.kind === 'close') k++;
    else if (atom.kind === 'char' && /\s/u.test(charAt(k) ?? '') && !(stacks[k]?.inPre ?? false)) k++;
    else return k;
  }
}

/**
 * Text becomes one atom per code point (a surrogate pair is never cut). A self-contained
 * element too long to share a part (a huge link in Markdown) degrades to its visible text.
 * Opening tags stay whole whatever their length: renderers keep them short.
 */
function atomize(units: MarkupUnit[], limit: number): Atom[] {
  const atoms: Atom[] = [];
  for (const unit of units) {
    if (unit.kind === 'text' || (unit.kind === 'void' && unit.raw.length > limit / 2)) {
      for (const ch of unit.text) atoms.push({ kind: 'char', raw: ch });
    } else if (unit.kind === 'open' || unit.kind === 'close') atoms.push({ kind: unit.kind, raw: unit.raw, name: unit.name });
    else atoms.push({ kind: unit.kind, raw: unit.raw });
  }
  return atoms;
}

/** stacks[k]: the elements open between atom k-1 and atom k. */
function stacksAt(atoms: Atom[], markup: Markup): Array<Stack | null> {
  const stacks = new Array<Stack | null>(atoms.length + 1);
  let st = null as Stack | null;
  stacks[0] = null;
  for (let k = 0; k < atoms.length; k++) {
    const atom = atoms[k]!;
    if (atom.kind === 'open') {
      const element = { name: atom.name, raw: atom.raw };
      st = {
        element,
        parent: st,
        openLen: (st?.openLen ?? 0) + atom.raw.length,
        closeLen: (st?.closeLen ?? 0) + markup.close(element).length,
        inAtomic: (st?.inAtomic ?? false) || markup.atomic(atom.name),
        inPre: (st?.inPre ?? false) || markup.preformatted(atom.name),
      };
    } else if (atom.kind === 'close') {
      // A stray closer closes nothing; a closer of an outer element closes the inner ones too.
      let find: Stack | null = st;
      while (find !== null && find.element.name !== atom.name) find = find.parent;
      if (find !== null) st = find.parent;
    }
    stacks[k + 1] = st;
  }
  return stacks;
}
