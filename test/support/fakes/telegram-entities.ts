/**
 * The Telegram fake's text parsing, written from the Bot API's "Formatting options": HTML with
 * the tags Telegram takes (anything else is refused with "can't parse entities"), MarkdownV2's
 * reserved characters, and the entities a client computes for inbound text.
 */

export interface FakeEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  user?: { id: number; is_bot: boolean; first_name: string };
}

export type Parsed = { ok: true; text: string; entities: FakeEntity[] } | { ok: false; description: string };

const TAGS: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  'tg-spoiler': 'spoiler',
  span: 'spoiler',
  a: 'text_link',
  code: 'code',
  pre: 'pre',
  blockquote: 'blockquote',
  'tg-emoji': 'custom_emoji',
};

const ENTITY: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

function byteOffset(source: string, index: number): number {
  return Buffer.byteLength(source.slice(0, index), 'utf8');
}

function attributes(source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of source.matchAll(/([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out.set(m[1]!.toLowerCase(), decode(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

function decode(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) =>
    name.startsWith('#x') ? String.fromCodePoint(parseInt(name.slice(2), 16)) : name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : ENTITY[name]!,
  );
}

const fail = (description: string): Parsed => ({ ok: false, description: `Bad Request: can't parse entities: ${description}` });

interface Open {
  name: string;
  start: number;
  entity: FakeEntity;
}

/** Telegram's HTML parse mode: visible text and entities, or the refusal Telegram gives. */
export function parseHtml(source: string): Parsed {
  let text = '';
  const entities: FakeEntity[] = [];
  const stack: Open[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '<') {
      const m = /^<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*>/.exec(source.slice(i));
      if (m === null) return fail(`Unsupported start tag "" at byte offset ${byteOffset(source, i)}`);
      const name = m[2]!.toLowerCase();
      if (m[1] === '/') {
        const top = stack.pop();
        if (top === undefined) return fail(`Unexpected end tag at byte offset ${byteOffset(source, i)}`);
        if (top.name !== name) return fail(`Unmatched end tag at byte offset ${byteOffset(source, i)}, expected "</${top.name}>", found "</${name}>"`);
        top.entity.length = text.length - top.start;
        if (top.entity.length > 0) entities.push(top.entity);
      } else {
        const type = TAGS[name];
        if (type === undefined) return fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(source, i)}`);
        const attrs = attributes(m[3] ?? '');
        const parent = stack.at(-1);
        // Code and pre hold only text (code inside pre names its language); quotes and links do not nest.
        if (parent !== undefined && (parent.name === 'code' || (parent.name === 'pre' && name !== 'code'))) {
          return fail(`Can't use tag "${name}" inside "${parent.name}" at byte offset ${byteOffset(source, i)}`);
        }
        if ((name === 'blockquote' || name === 'a') && stack.some((o) => o.name === name)) {
          return fail(`Nested "${name}" entities are not allowed at byte offset ${byteOffset(source, i)}`);
        }
        if (name === 'span' && attrs.get('class') !== 'tg-spoiler') return fail(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(source, i)}`);
        const entity: FakeEntity = { type, offset: text.length, length: 0 };
        if (name === 'a') {
          const href = attrs.get('href');
          if (href === undefined || href === '') return fail(`Can't find attribute "href" of tag "a" at byte offset ${byteOffset(source, i)}`);
          if (!/^(https?|tg|mailto|ftp):/i.test(href)) return fail(`Wrong HTTP URL "${href}"`);
          entity.url = href;
        }
        if (name === 'code' && parent?.name === 'pre') {
          const language = /^language-(.+)$/.exec(attrs.get('class') ?? '')?.[1];
          // The language belongs to the enclosing pre entity.
          if (language !== undefined) parent.entity.language = language;
          entity.type = 'pre-code';
        }
        stack.push({ name, start: text.length, entity });
      }
      i += m[0].length;
    } else if (ch === '&') {
      const m = /^&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/.exec(source.slice(i));
      // Only these four named entities and numeric ones are read; any other "&" is a character.
      text += m === null ? '&' : decode(m[0]);
      i += m === null ? 1 : m[0].length;
    } else {
      text += ch;
      i += 1;
    }
  }
  const open = stack.at(-1);
  if (open !== undefined) return fail(`Can't find end tag corresponding to start tag "${open.name}"`);
  return { ok: true, text, entities: entities.filter((e) => e.type !== 'pre-code').sort((a, b) => a.offset - b.offset) };
}

const RESERVED = new Set('_*[]()~`>#+-=|{}.!'.split(''));

/**
 * MarkdownV2 as far as its most common refusal: every reserved character outside an entity
 * must be escaped. Entities are dropped from the visible text, not computed.
 */
export function parseMarkdownV2(source: string): Parsed {
  let text = '';
  let inCode = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\\' && i + 1 < source.length) {
      text += source[++i];
    } else if (ch === '`') {
      inCode = !inCode;
    } else if (inCode) {
      text += ch;
    } else if (ch === '*' || ch === '_' || ch === '~' || ch === '|') {
      // Emphasis markers are entities' ends; the fake does not pair them.
    } else if (RESERVED.has(ch)) {
      return fail(`Character '${ch}' is reserved and must be escaped with the preceding '\\'`);
    } else text += ch;
  }
  return { ok: true, text, entities: [] };
}

/** Entities a Telegram client marks in text a user typed: a command at the start, @mentions, links. */
export function clientEntities(text: string): FakeEntity[] {
  const entities: FakeEntity[] = [];
  const command = /^\/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?/.exec(text);
  if (command !== null) entities.push({ type: 'bot_command', offset: 0, length: command[0].length });
  for (const m of text.matchAll(/(^|[^\w@/])(@[a-zA-Z0-9_]{4,32})/g)) {
    entities.push({ type: 'mention', offset: m.index + m[1]!.length, length: m[2]!.length });
  }
  for (const m of text.matchAll(/https?:\/\/[^\s]+/g)) entities.push({ type: 'url', offset: m.index, length: m[0].length });
  return entities.sort((a, b) => a.offset - b.offset);
}
