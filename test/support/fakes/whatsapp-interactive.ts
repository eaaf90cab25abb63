/**
 * The WhatsApp fake's check of an interactive message, as the Cloud API checks it. A refusal
 * is what Graph answers: #100 for a missing parameter, #131009 for a value out of range.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const codePoints = (s: string): number => [...s].length;

/** A reply button or a list row. */
export interface Choice {
  id: string;
  title: string;
  description?: string;
}

export interface Refusal {
  code: 100 | 131009;
  message: string;
  details?: string;
}

export interface CheckedInteractive {
  kind: 'button' | 'list';
  text: string;
  buttons: Choice[];
  listButton?: string;
}

const missing = (message: string, extra: { details?: string } = {}): Refusal => ({ code: 100, message, ...extra });
const invalidValue = (details: string): Refusal => ({ code: 131009, message: '(#131009) Parameter value is not valid', details });

/**
 * An interactive message checked as the Cloud API checks it: reply buttons (1-3, ids of at
 * most 256 characters, titles of 1-20, both unique, a body of 1-1,024) or a list (a button
 * label of 1-20, 1-10 sections and at most 10 rows in all, row ids of at most 200 and unique,
 * titles of 1-24, descriptions of at most 72, section titles when there are several, a body
 * of 1-4,096). A missing parameter is #100, a value out of range #131009, as Meta answers.
 */
export function checkInteractive(value: unknown): CheckedInteractive | Refusal {
  if (!isObject(value) || (value.type !== 'button' && value.type !== 'list')) return missing("(#100) The parameter interactive['type'] must be one of {button, list, cta_url, flow, location_request_message, product, product_list}", { details: 'this fake speaks button and list' });
  const kind = value.type;
  const body = isObject(value.body) && typeof value.body.text === 'string' ? value.body.text : undefined;
  if (body === undefined) return missing("(#100) The parameter interactive['body']['text'] is required.");
  const bodyMax = kind === 'button' ? 1024 : 4096;
  if (codePoints(body) < 1 || codePoints(body) > bodyMax) return invalidValue(`Body text length invalid. Min length: 1, Max length: ${bodyMax}`);
  const action = isObject(value.action) ? value.action : undefined;
  if (action === undefined) return missing("(#100) The parameter interactive['action'] is required.");
  return kind === 'button' ? replyButtons(body, action) : listRows(body, action);
}

function replyButtons(text: string, action: Record<string, unknown>): { kind: 'button'; text: string; buttons: Choice[] } | Refusal {
  if (!Array.isArray(action.buttons)) return missing("(#100) The parameter interactive['action']['buttons'] is required.");
  if (action.buttons.length < 1 || action.buttons.length > 3) return invalidValue('Number of buttons invalid. Min: 1, Max: 3');
  const buttons: Array<{ id: string; title: string }> = [];
  for (const b of action.buttons as unknown[]) {
    const reply = isObject(b) && b.type === 'reply' && isObject(b.reply) ? b.reply : undefined;
    if (typeof reply?.id !== 'string' || typeof reply.title !== 'string') return missing("(#100) Each button needs type 'reply' and reply['id'] and reply['title'].");
    if (codePoints(reply.id) < 1 || codePoints(reply.id) > 256) return invalidValue('Button id length invalid. Min length: 1, Max length: 256');
    if (codePoints(reply.title) < 1 || codePoints(reply.title) > 20) return invalidValue('Button title length invalid. Min length: 1, Max length: 20');
    buttons.push({ id: reply.id, title: reply.title });
  }
  if (new Set(buttons.map((b) => b.id)).size !== buttons.length) return invalidValue('Duplicate button ids are not allowed.');
  if (new Set(buttons.map((b) => b.title)).size !== buttons.length) return invalidValue('Button titles must be unique.');
  return { kind: 'button', text, buttons };
}

function listRows(text: string, action: Record<string, unknown>): { kind: 'list'; text: string; buttons: Choice[]; listButton: string } | Refusal {
  if (typeof action.button !== 'string') return missing("(#100) The parameter interactive['action']['button'] is required.");
  if (codePoints(action.button) < 1 || codePoints(action.button) > 20) return invalidValue('Button label length invalid. Min length: 1, Max length: 20');
  if (!Array.isArray(action.sections)) return missing("(#100) The parameter interactive['action']['sections'] is required.");
  const sections = action.sections as unknown[];
  if (sections.length < 1 || sections.length > 10) return invalidValue('Number of sections invalid. Min: 1, Max: 10');
  const rows: Array<{ id: string; title: string; description?: string }> = [];
  for (const section of sections) {
    if (!isObject(section) || !Array.isArray(section.rows) || section.rows.length === 0) return missing('(#100) Each section needs rows.');
    if (sections.length > 1 && (typeof section.title !== 'string' || codePoints(section.title) < 1 || codePoints(section.title) > 24)) return invalidValue('Section title is required with more than one section. Max length: 24');
    for (const row of section.rows as unknown[]) {
      if (!isObject(row) || typeof row.id !== 'string' || typeof row.title !== 'string') return missing('(#100) Each row needs an id and a title.');
      if (codePoints(row.id) < 1 || codePoints(row.id) > 200) return invalidValue('Row id length invalid. Min length: 1, Max length: 200');
      if (codePoints(row.title) < 1 || codePoints(row.title) > 24) return invalidValue('Row title length invalid. Min length: 1, Max length: 24');
      if (row.description !== undefined && (typeof row.description !== 'string' || codePoints(row.description) > 72)) return invalidValue('Row description length invalid. Max length: 72');
      rows.push({ id: row.id, title: row.title, ...(typeof row.description === 'string' && { description: row.description }) });
    }
  }
  if (rows.length > 10) return invalidValue('Total row count exceed max allowed count: 10');
  if (new Set(rows.map((r) => r.id)).size !== rows.length) return invalidValue('Duplicate row ids are not allowed.');
  return { kind: 'list', text, buttons: rows, listButton: action.button };
}
