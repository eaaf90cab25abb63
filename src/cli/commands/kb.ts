import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { PincerError } from '../../errors.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';
import { kbEvalCommand } from './kb-eval.js';

interface SourceView {
  id: string;
  uri: string;
  title: string;
  format: string | null;
  status: string;
  error: string | null;
  chunks: number;
}

interface Outcome {
  status: 'unchanged' | 'indexed' | 'error';
  source: SourceView;
  error?: { code: string; message: string };
}

/** `*` and `?` within a name, `**` for any folders: the files of `pattern`, sorted (Node 20 has no fs.glob). */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!/[*?]/.test(pattern)) return [pattern];
  const parts = pattern.split(/[\\/]/);
  const fixed = parts.findIndex((p) => /[*?]/.test(p));
  const root = parts.slice(0, fixed).join('/') || '.';
  const rest = parts.slice(fixed);
  const matcher = globRegex(rest.join('/'));
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(path.join(root, dir), { withFileTypes: true })) {
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(relative);
      else if (entry.isFile() && matcher.test(relative)) out.push(path.join(root, relative));
    }
  };
  await walk('');
  return out.sort();
}

/** A glob of "/"-separated segments as a regular expression: `**` any folders, `*` and `?` within one name. */
function globRegex(pattern: string): RegExp {
  const segments = pattern.split('/');
  const body = segments
    .map((segment, i) => {
      if (segment === '**') return '(?:[^/]+/)*';
      const name = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
      return i === segments.length - 1 ? name : `${name}/`;
    })
    .join('');
  return new RegExp(`^${body}$`);
}

/** `pincer kb ...`: the knowledge base (admin). */
export function kbCommand(program: Command, globals: () => ClientOptions & { json?: boolean; config?: string }): void {
  const kb = program.command('kb').description("the knowledge base: the operator's documents the bot answers from (admin)");

  kb.command('add')
    .description('upload files (paths or globs such as "docs/**/*.md") into the knowledge folder and index them')
    .argument('<paths...>', 'files or globs')
    .action(async (patterns: string[]) => {
      const g = globals();
      const client = ApiClient.from(g);
      const files = (await Promise.all(patterns.map(expandGlob))).flat();
      if (files.length === 0) throw new PincerError('KB_SOURCE_INVALID', `no files match ${patterns.join(' ')}`);
      const results: Outcome[] = [];
      let failed = 0;
      for (const [i, file] of files.entries()) {
        if (!(await stat(file)).isFile()) continue;
        const relative = path.relative(process.cwd(), file);
        const name = relative.startsWith('..') || path.isAbsolute(relative) ? path.basename(file) : relative.split(path.sep).join('/');
        const { body } = await client.call<Outcome>('POST', '/v1/admin/kb/sources', { name, content: (await readFile(file)).toString('base64'), encoding: 'base64' });
        results.push(body);
        if (body.status === 'error') failed++;
        if (!g.json) process.stderr.write(`[${i + 1}/${files.length}] ${name}: ${body.status === 'error' ? `error: ${body.error?.message}` : `${body.status} (${body.source.chunks} chunks)`}\n`);
      }
      print(!!g.json, { results }, () => `${results.length - failed} of ${results.length} file(s) indexed or unchanged${failed > 0 ? `, ${failed} failed` : ''}`);
      if (failed > 0) process.exitCode = 1;
    });

  kb.command('list')
    .description('sources with their status and chunk count')
    .action(async () => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ sources: SourceView[] }>('GET', '/v1/admin/kb/sources');
      print(!!g.json, body, () =>
        body.sources.length === 0 ? 'no knowledge sources' : table([['ID', 'SOURCE', 'STATUS', 'CHUNKS', 'ERROR'], ...body.sources.map((s) => [s.id, s.uri, s.status, String(s.chunks), s.error ?? '-'])]),
      );
    });

  kb.command('search')
    .description('what retrieval returns for a question, with scores')
    .argument('<question...>')
    .option('-k <n>', 'how many passages', '5')
    .action(async (words: string[], opts: { k: string }) => {
      const g = globals();
      const query = new URLSearchParams({ q: words.join(' '), k: opts.k });
      const { body } = await ApiClient.from(g).call<{ confidence: number; answerable: boolean; hits: Array<{ source: string; headingPath: string[]; score: number; coverage: number; text: string }> }>('GET', `/v1/admin/kb/search?${query}`);
      print(!!g.json, body, () =>
        [
          `confidence ${body.confidence.toFixed(2)} (${body.answerable ? 'answers' : 'below kb.min_coverage: the bot says it does not know'})`,
          table([['SCORE', 'COVERAGE', 'SOURCE', 'SECTION', 'TEXT'], ...body.hits.map((h) => [h.score.toFixed(4), h.coverage.toFixed(2), h.source, h.headingPath.join(' › ') || '-', h.text.replace(/\s+/g, ' ').slice(0, 60)])]),
        ].join('\n'),
      );
    });

  kb.command('reindex')
    .description('scan the knowledge folder now (with --force, parse every source again)')
    .option('--force', 'parse every source again, changed or not')
    .action(async (opts: { force?: boolean }) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ report: Record<string, number> }>('POST', `/v1/admin/kb/reindex${opts.force ? '?force=true' : ''}`);
      print(!!g.json, body, () => Object.entries(body.report).map(([k, v]) => `${k}: ${v}`).join(', '));
    });

  kb.command('remove')
    .description('remove a source (a file of the knowledge folder is deleted too)')
    .argument('<id>', 'the source id (pincer kb list shows it)')
    .action(async (id: string) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ removed: SourceView }>('DELETE', `/v1/admin/kb/sources/${encodeURIComponent(id)}`);
      print(!!g.json, body, () => `removed ${body.removed.uri}`);
    });

  kbEvalCommand(kb, globals);

  kb.command('unanswered')
    .description('questions the knowledge base could not answer, most recent first')
    .action(async () => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ questions: Array<{ query: string; count: number; at: string }> }>('GET', '/v1/admin/kb/unanswered');
      print(!!g.json, body, () => (body.questions.length === 0 ? 'no unanswered questions' : table([['COUNT', 'LAST ASKED', 'QUESTION'], ...body.questions.map((q) => [String(q.count), q.at, q.query])])));
    });
}
