import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors/catalogue.js';
import { errorCode, isErrorCode, NotFoundError, PincerError } from '../../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CATALOGUE = new Set<string>(Object.keys(ERRORS));

/**
 * Codes of other systems that Pincer reads (compares a caught error's `code` with) but never
 * raises: Node's, undici's, SQLite's. Anything else shaped like a code must be catalogued.
 */
const FOREIGN = new Set([
  'ERR_MODULE_NOT_FOUND', // Node: a dynamic import that found no package
  'ERR_UNKNOWN', // Node: the code a serialised error without one gets in a worker thread
  'ERR_WORKER_OUT_OF_MEMORY', // Node: a worker thread hit its resourceLimits (the PDF parser's)
  'EADDRINUSE', // Node system errors
  'ENOENT',
  'SQLITE_BUSY', // better-sqlite3
  'UND_ERR_ABORTED', // undici
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);

const CODE_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

interface CodeUse {
  code: string;
  where: string;
}

const calleeName = (e: ts.Expression): string | undefined =>
  ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : e.kind === ts.SyntaxKind.SuperKeyword ? 'super' : undefined;

/** `x.code` (or `code`): the other side of a comparison with it is a code. */
const isCodeRead = (e: ts.Expression): boolean => (ts.isPropertyAccessExpression(e) && e.name.text === 'code') || (ts.isIdentifier(e) && e.text === 'code');

/**
 * Every place a string literal stands for an error code: the first argument of an error
 * constructor, `super(...)`, `errorBody(...)` or a stream's `.error(...)`; the second of `sendError(...)`; a `code:` property;
 * either side of a comparison with `.code`; a fallback after `.code ??`.
 */
function codeUses(file: string): CodeUse[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const uses: CodeUse[] = [];
  const add = (lit: ts.Node): void => {
    if (!ts.isStringLiteral(lit) || !CODE_SHAPE.test(lit.text) || lit.text.length < 4) return;
    const line = source.getLineAndCharacterOfPosition(lit.getStart()).line + 1;
    uses.push({ code: lit.text, where: `${file}:${line}` });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isNewExpression(node) || ts.isCallExpression(node)) {
      const name = calleeName(node.expression);
      const [first, second] = node.arguments ?? [];
      if (first && name && (ts.isNewExpression(node) ? /Error$/.test(name) : name === 'super')) {
        add(first);
      } else if (first && ts.isCallExpression(node) && (name === 'errorBody' || (name === 'error' && ts.isPropertyAccessExpression(node.expression)))) {
        add(first);
      } else if (second && name === 'sendError') {
        add(second);
      }
    } else if (ts.isPropertyAssignment(node) && ts.isIdentifier(node.name) && node.name.text === 'code') {
      add(node.initializer);
    } else if (ts.isBinaryExpression(node)) {
      const op = node.operatorToken.kind;
      const comparison = [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken].includes(op);
      if (comparison && isCodeRead(node.left)) add(node.right);
      if (comparison && isCodeRead(node.right)) add(node.left);
      if (op === ts.SyntaxKind.QuestionQuestionToken && isCodeRead(node.left)) add(node.right);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

const uses = [...tsFiles('src'), ...tsFiles('bench')].flatMap(codeUses);

/** The codes in the table under docs/api.md's "## Errors": rows that start with | `CODE` |. */
function documentedCodes(): Map<string, number> {
  const doc = readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Errors'));
  if (!section) throw new Error('docs/api.md has no "## Errors" section');
  const rows = new Map<string, number>();
  for (const m of section.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{3}) \|/gm)) rows.set(m[1]!, Number(m[2]));
  return rows;
}

describe('the error catalogue', () => {
  it('finds the codes the source uses (the scan itself works)', () => {
    const found = new Set(uses.map((u) => u.code));
    for (const code of ['QUEUE_FULL', 'STORE_UNAVAILABLE', 'UNAUTHORIZED', 'PLUGIN_CRASHED', 'WORKER_SHUTDOWN', 'SQLITE_BUSY']) expect(found).toContain(code);
  });

  it('every code the source uses is catalogued (or another system\'s, listed as such)', () => {
    const strays = uses.filter((u) => !CATALOGUE.has(u.code) && !FOREIGN.has(u.code)).map((u) => `${u.code} at ${u.where}`);
    expect(strays).toEqual([]);
    // A foreign code that is also catalogued would make the allowance meaningless.
    expect([...FOREIGN].filter((c) => CATALOGUE.has(c))).toEqual([]);
  });

  it('docs/api.md lists every catalogued code, with its status, and no other', () => {
    const documented = documentedCodes();
    expect([...CATALOGUE].filter((c) => !documented.has(c))).toEqual([]);
    expect([...documented.keys()].filter((c) => !CATALOGUE.has(c))).toEqual([]);
    const wrong = [...documented].filter(([c, status]) => CATALOGUE.has(c) && ERRORS[c as keyof typeof ERRORS].status !== status);
    expect(wrong).toEqual([]);
  });

  it('follows one naming scheme', () => {
    expect([...CATALOGUE].filter((c) => !CODE_SHAPE.test(c) || c.startsWith('PINCER_'))).toEqual([]);
  });
});

describe('PincerError', () => {
  it('takes its status from the catalogue', () => {
    expect(new PincerError('QUEUE_FULL', 'full').statusCode).toBe(429);
    expect(new PincerError('MESSAGE_NOT_FOUND', 'gone').statusCode).toBe(404);
    expect(new PincerError('LEASE_LOST').message).toBe(ERRORS.LEASE_LOST.message);
    expect(new NotFoundError('CONVERSATION_NOT_FOUND', 'conversation', 'c1')).toMatchObject({ code: 'CONVERSATION_NOT_FOUND', statusCode: 404, message: "No conversation with id 'c1'." });
  });

  it('is classified by code, including a catalogued code on an error from elsewhere', () => {
    const shutdown = new PincerError('WORKER_SHUTDOWN', 'stopping');
    expect(errorCode(shutdown)).toBe('WORKER_SHUTDOWN');
    expect(isErrorCode(shutdown, 'LEASE_LOST', 'WORKER_SHUTDOWN')).toBe(true);
    expect(isErrorCode(shutdown, 'LEASE_LOST')).toBe(false);
    expect(errorCode(Object.assign(new Error('from a thread'), { code: 'PLUGIN_TIMEOUT' }))).toBe('PLUGIN_TIMEOUT');
    expect(errorCode(Object.assign(new Error('sqlite'), { code: 'SQLITE_BUSY' }))).toBeUndefined();
    expect(errorCode(new Error('worker shutting down'))).toBeUndefined();
    expect(errorCode('WORKER_SHUTDOWN')).toBeUndefined();
  });
});
