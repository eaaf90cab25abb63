import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../config/load.js';
import { formatReport, parseQuestions, report, sampleQuestions, tuneThreshold, type EvalReport, type EvalSample } from '../../kb/eval.js';
import { createKnowledgeBase } from '../../kb/setup.js';
import { buildModelLayer } from '../../models/setup.js';
import { openStore } from '../../store/open.js';
import { PINCER_VERSION } from '../../version.js';
import { print } from '../output.js';

interface EvalOptions {
  dir: string;
  store?: string;
  threshold?: string;
  tune?: boolean;
}

/**
 * `pincer kb eval <questions...> --dir <corpus>`: index the corpus into a store of its own
 * (a temporary SQLite file, or --store), ask every question, print retrieval and answer
 * figures. With --tune the first file is the development set the coverage threshold is chosen
 * on; the others (held-out sets) are reported at that threshold.
 */
export function kbEvalCommand(kb: Command, globals: () => { config?: string; json?: boolean }): void {
  kb.command('eval')
    .description('measure retrieval and answers on question sets (YAML or JSON lists of {question, source, heading?, difficulty?, out_of_scope?})')
    .argument('<questions...>', 'question files; with --tune the first is the development set')
    .requiredOption('--dir <folder>', 'the corpus: a folder of documents, indexed as the knowledge folder would be')
    .option('--store <url>', 'index into this store (sqlite:<path> or postgres://...); default a temporary SQLite file')
    .option('--threshold <t>', 'the coverage threshold answers need (default kb.min_coverage)')
    .option('--tune', 'choose the threshold on the first file, then report every file at it')
    .action(async (files: string[], opts: EvalOptions) => {
      const g = globals();
      const { config } = loadConfig({ file: g.config });
      const temp = opts.store ? undefined : mkdtempSync(path.join(tmpdir(), 'pincer-kb-eval-'));
      const store = await openStore({ ...config, store: opts.store ?? `sqlite:${path.join(temp as string, 'kb.db')}` });
      const log = pino({ level: 'warn' }, pino.destination(2));
      const models = buildModelLayer(config, process.env, PINCER_VERSION);
      const kbase = createKnowledgeBase({ ...config, kb: { ...config.kb, enabled: true, dir: path.resolve(opts.dir), watch: false } }, store.knowledge, models, log);
      try {
        const scan = await kbase!.start();
        const sets = files.map((file) => ({ file, questions: parseQuestions(parseYaml(readFileSync(file, 'utf8')), file) }));
        const search = (q: string) => kbase!.search(q, 10);
        const samples: EvalSample[][] = [];
        for (const set of sets) samples.push(await sampleQuestions(set.questions, search));
        const threshold = opts.tune ? tuneThreshold(samples[0] ?? []) : opts.threshold !== undefined ? Number(opts.threshold) : config.kb.min_coverage;
        const reports: Array<{ file: string; report: EvalReport }> = sets.map((set, i) => ({ file: set.file, report: report(samples[i] ?? [], threshold) }));
        print(!!g.json, { backend: store.backend, scan, threshold, reports }, () =>
          [`indexed ${opts.dir} into ${store.backend}: ${scan.indexed} file(s), ${scan.failed} failed`, ...reports.map((r) => formatReport(path.basename(r.file), r.report))].join('\n'),
        );
      } finally {
        await kbase?.close();
        await models.close();
        await store.close();
        if (temp) rmSync(temp, { recursive: true, force: true });
      }
    });
}
