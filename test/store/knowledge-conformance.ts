import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { KbChunk } from '../../src/kb/types.js';
import type { KbIndexedChunk, KbSourceInput } from '../../src/store/types.js';
import { tokenize } from '../../src/text/tokens.js';
import type { ManualClock } from '../support/index.js';
import { freshQueuePerTest, type QueueFactory } from './conformance.js';

/** A chunk as the chunker and the service would hand it over: hashed, its words tokenized. */
export function kbChunk(ordinal: number, text: string, extra: Partial<Pick<KbChunk, 'kind' | 'headingPath' | 'questions' | 'page'>> = {}): KbIndexedChunk {
  const { kind = 'section', headingPath = [], questions = [], page = null } = extra;
  const hash = createHash('sha256').update(JSON.stringify([kind, headingPath, questions, text])).digest('hex');
  const words = tokenize(text);
  return {
    ordinal,
    kind,
    headingPath,
    questions,
    text,
    lineStart: page === null ? ordinal * 10 + 1 : null,
    lineEnd: page === null ? ordinal * 10 + 5 : null,
    page,
    tokens: Math.ceil((words.length * 4) / 3),
    hash,
    lexHead: tokenize([...headingPath, ...questions].join('\n')).join(' '),
    lexBody: words.join(' '),
  };
}

const doc = (uri: string, extra: Partial<KbSourceInput> = {}): KbSourceInput => ({ uri, title: `Title of ${uri}`, format: 'markdown', sha256: 'a'.repeat(64), bytes: 100, ...extra });
const vec = (...xs: number[]) => Float32Array.from(xs);

/**
 * What every backend's knowledge role must do (src/store/knowledge-types.ts): sources whose
 * unchanged chunks keep their ids and vectors, a lexical index that weighs headings and
 * questions above the body and never reads a query as syntax, vectors per model, a
 * generation every node agrees on, and the log of questions left unanswered.
 */
export function describeKnowledgeConformance(backend: string, factory: QueueFactory): void {
  describe(`Knowledge conformance: ${backend}`, () => {
    const fresh = freshQueuePerTest(factory);
    let clock: ManualClock;
    beforeEach(() => {
      clock = fresh.clock;
    });
    const kb = () => fresh.queue.knowledge;
    const search = async (query: string, limit = 10) => {
      const hits = await kb().searchLexical(tokenize(query), limit);
      const chunks = await kb().getChunks(hits.map((h) => h.chunkId));
      return chunks.map((c) => c.text);
    };

    it('creates a source with its chunks and gives them back as stored, in the order asked', async () => {
      const faq = kbChunk(1, 'Press the red button.', { kind: 'faq', questions: ['How do I stop it?', 'Emergency stop?'], headingPath: ['FAQ'] });
      const { source, added, kept, removed } = await kb().replaceSource(doc('docs/a.md'), [kbChunk(0, 'Intro text', { headingPath: ['Guide', 'Intro'] }), faq, kbChunk(2, 'Page two text', { page: 2 })]);
      expect({ added, kept, removed }).toEqual({ added: 3, kept: 0, removed: 0 });
      expect(source).toMatchObject({ uri: 'docs/a.md', title: 'Title of docs/a.md', format: 'markdown', sha256: 'a'.repeat(64), bytes: 100, status: 'indexed', error: null, chunks: 3, createdAt: clock.time, updatedAt: clock.time, indexedAt: clock.time });
      expect(source.id).toMatch(/^ks_/);
      expect(await kb().getSource(source.id)).toEqual(source);
      expect(await kb().getSource('docs/a.md')).toEqual(source);
      expect(await kb().getSource('nope')).toBeUndefined();
      const [hit] = await kb().searchLexical(['emergency'], 5);
      const [record] = await kb().getChunks([hit!.chunkId]);
      const { lexHead, lexBody, ...plain } = faq;
      expect(lexHead && lexBody).toBeTruthy();
      expect(record).toEqual({ ...plain, id: hit!.chunkId, sourceId: source.id, sourceUri: 'docs/a.md', sourceTitle: 'Title of docs/a.md' });
      expect(record!.id).toMatch(/^kc_/);
      const all = (await kb().searchLexical(['text', 'press'], 10)).map((h) => h.chunkId);
      expect(all).toHaveLength(3);
      const reversed = [...all].reverse();
      expect((await kb().getChunks(['kc_unknown', ...reversed])).map((c) => c.id)).toEqual(reversed);
      expect((await kb().getChunks(all)).find((c) => c.page === 2)).toMatchObject({ text: 'Page two text', lineStart: null, lineEnd: null });
      expect(await kb().getChunks([])).toEqual([]);
      await kb().replaceSource(doc('docs/0.md'), []);
      expect((await kb().listSources()).map((s) => [s.uri, s.chunks])).toEqual([['docs/0.md', 0], ['docs/a.md', 3]]);
    });

    it('replaces a source: unchanged chunks keep their ids and vectors (a repeated hash one for one), the rest go', async () => {
      const alpha = kbChunk(0, 'alpha words');
      const first = [alpha, kbChunk(1, 'beta words'), { ...alpha, ordinal: 2 }, kbChunk(3, 'gamma words', { headingPath: ['G'] })];
      const { source } = await kb().replaceSource(doc('a.md'), first);
      await kb().replaceSource(doc('other.md'), [kbChunk(0, 'beta elsewhere')]);
      const ids = (await kb().searchLexical(['words'], 10)).map((h) => h.chunkId);
      const old = new Map((await kb().getChunks(ids)).map((c) => [c.ordinal, c.id]));
      expect(old.size).toBe(4);
      const pending = await kb().chunksWithoutVector('m1', 10);
      expect(pending).toHaveLength(5);
      await kb().putVectors('m1', pending.map(({ chunkId }, i) => ({ chunkId, vector: vec(i, 0.5) })));
      const vectorsBefore = new Map((await kb().vectors('m1')).map((v) => [v.chunkId, [...v.vector]]));

      clock.advance(1000);
      const next = [{ ...alpha, ordinal: 0 }, { ...alpha, ordinal: 1, lineStart: 99 }, kbChunk(2, 'delta words'), { ...kbChunk(3, 'gamma words', { headingPath: ['G'] }), ordinal: 3 }];
      const result = await kb().replaceSource(doc('a.md', { sha256: 'b'.repeat(64), title: 'New title', bytes: 120 }), next);
      expect({ added: result.added, kept: result.kept, removed: result.removed }).toEqual({ added: 1, kept: 3, removed: 1 });
      expect(result.source).toMatchObject({ id: source.id, title: 'New title', sha256: 'b'.repeat(64), bytes: 120, chunks: 4, createdAt: source.createdAt, updatedAt: clock.time, indexedAt: clock.time });

      const now = await kb().getChunks((await kb().searchLexical(['words'], 10)).map((h) => h.chunkId));
      const byOrdinal = new Map(now.filter((c) => c.sourceUri === 'a.md').map((c) => [c.ordinal, c]));
      expect(byOrdinal.get(0)?.id).toBe(old.get(0));
      expect(byOrdinal.get(1)?.id).toBe(old.get(2)); // the repeated hash's second id
      expect(byOrdinal.get(1)?.lineStart).toBe(99); // kept chunks take their new place
      expect(byOrdinal.get(3)?.id).toBe(old.get(3));
      expect(byOrdinal.get(2)?.id).not.toBe(old.get(2));
      expect([...old.values()]).not.toContain(byOrdinal.get(2)?.id);
      expect(await kb().getChunks([old.get(1)!])).toEqual([]);
      expect(await search('beta')).toEqual(['beta elsewhere']);
      expect(await search('delta')).toEqual(['delta words']);
      // Vectors: the kept chunks' are there unchanged, the removed one's is gone, the new one needs one.
      const vectorsAfter = new Map((await kb().vectors('m1')).map((v) => [v.chunkId, [...v.vector]]));
      expect(vectorsAfter.size).toBe(4);
      for (const o of [0, 2, 3]) expect(vectorsAfter.get(old.get(o)!)).toEqual(vectorsBefore.get(old.get(o)!));
      expect(vectorsAfter.has(old.get(1)!)).toBe(false);
      expect(await kb().chunksWithoutVector('m1', 10)).toEqual([{ chunkId: byOrdinal.get(2)!.id, text: 'delta words', headingPath: [], questions: [] }]);
      expect((await kb().termStats(['words'])).chunks).toBe(5);
    });

    it('ranks a heading or question match above a body match, best first, with positive scores', async () => {
      await kb().replaceSource(doc('guide.md'), [
        kbChunk(0, 'Open the settings page and follow the steps.', { headingPath: ['Accounts', 'Resetting your password'] }),
        kbChunk(1, 'A strong password has twelve characters or more.', { headingPath: ['Accounts', 'Security'] }),
        kbChunk(2, 'You can change the email address shown to others here.', { headingPath: ['Profile'] }),
        kbChunk(3, 'Nothing relevant in here at all.', { headingPath: ['Misc'] }),
        kbChunk(4, 'Unrelated words about the weather.', { headingPath: ['Weather'] }),
      ]);
      await kb().replaceSource(doc('faq.yaml', { format: 'faq' }), [kbChunk(0, 'Go to your profile and press Edit.', { kind: 'faq', questions: ['How do I update my email?'] })]);
      const password = await kb().searchLexical(tokenize('password'), 10);
      expect((await kb().getChunks(password.map((h) => h.chunkId))).map((c) => c.headingPath.at(-1))).toEqual(['Resetting your password', 'Security']);
      expect(password[0]!.score).toBeGreaterThan(password[1]!.score);
      expect(password[1]!.score).toBeGreaterThan(0);
      expect(await search('email')).toEqual(['Go to your profile and press Edit.', 'You can change the email address shown to others here.']);
      // Terms are OR-ed; limit holds and is bounded; no terms or no room: nothing.
      expect(await search('weather password')).toHaveLength(3);
      expect(await search('weather password', 1)).toHaveLength(1);
      expect(await search('weather password', 1e9)).toHaveLength(3);
      expect(await kb().searchLexical([], 10)).toEqual([]);
      expect(await kb().searchLexical(['', '  '], 10)).toEqual([]);
      expect(await kb().searchLexical(['password'], 0)).toEqual([]);
      expect(await kb().searchLexical(['password'], -5)).toEqual([]);
      expect(await kb().searchLexical(['password'], Number.NaN)).toEqual([]);
    });

    it('finds Chinese and Japanese words, and keeps diacritics as they are on every backend', async () => {
      await kb().replaceSource(doc('zh.md'), [kbChunk(0, '如何重置我的密码'), kbChunk(1, '東京の天気は晴れです'), kbChunk(2, 'Un café crème')]);
      expect(await search('密码')).toEqual(['如何重置我的密码']);
      expect(await search('東京')).toEqual(['東京の天気は晴れです']);
      expect(await search('CAFÉ')).toEqual(['Un café crème']);
      expect(await search('cafe')).toEqual([]);
    });

    it('never reads a query as search syntax', async () => {
      await kb().replaceSource(doc('q.md'), [kbChunk(0, 'a quoted "word" and an OR here, near col value')]);
      const hostile = ['"a" OR *', 'NEAR(a b', '-x AND NOT', 'col:x', "it's", 'back\\slash', '""', "'", '*', ')(', 'a:* & !b', '^start'];
      for (const q of hostile) {
        await expect(kb().searchLexical(tokenize(q), 5)).resolves.toBeInstanceOf(Array);
        await expect(kb().termStats(tokenize(q))).resolves.toMatchObject({ chunks: 1 });
      }
      // Raw terms no tokenizer would make reach the engine quoted, too.
      for (const terms of [hostile, ['"', "'", '\\', '*'], ['a" OR "b'], ["x' | 'y"], ['NEAR(', 'col:x', 'head:word']]) {
        await expect(kb().searchLexical(terms, 5)).resolves.toBeInstanceOf(Array);
        await expect(kb().termStats(terms)).resolves.toMatchObject({ chunks: 1 });
      }
      expect(await search('"a" OR *')).toEqual(['a quoted "word" and an OR here, near col value']);
      expect(await search('near(')).toHaveLength(1);
    });

    it('counts chunks and the chunks each term occurs in', async () => {
      expect(await kb().termStats(['x'])).toEqual({ chunks: 0, df: { x: 0 } });
      await kb().replaceSource(doc('a.md'), [kbChunk(0, 'apple banana', { headingPath: ['Cherry'] }), kbChunk(1, 'apple apple apple'), kbChunk(2, 'banana')]);
      await kb().replaceSource(doc('b.md'), [kbChunk(0, 'apple')]);
      expect(await kb().termStats(['apple', 'banana', 'cherry', 'durian', 'apple'])).toEqual({ chunks: 4, df: { apple: 3, banana: 2, cherry: 1, durian: 0 } });
      expect(await kb().termStats([])).toEqual({ chunks: 4, df: {} });
    });

    it('records a failed source: a new one with no chunks, a known one keeping its last good chunks until it is indexed again', async () => {
      const g0 = await kb().generation();
      const broken = await kb().failSource({ uri: 'bad.pdf' }, 'not a PDF');
      expect(broken).toMatchObject({ uri: 'bad.pdf', title: 'bad.pdf', format: null, sha256: null, bytes: 0, status: 'error', error: 'not a PDF', chunks: 0, indexedAt: null });
      const { source } = await kb().replaceSource(doc('good.md'), [kbChunk(0, 'still searchable')]);
      clock.advance(500);
      const failed = await kb().failSource({ uri: 'good.md', sha256: 'c'.repeat(64), bytes: 7 }, 'parse error at line 3');
      expect(failed).toMatchObject({ id: source.id, title: source.title, format: 'markdown', sha256: 'c'.repeat(64), bytes: 7, status: 'error', error: 'parse error at line 3', chunks: 1, indexedAt: source.indexedAt, updatedAt: clock.time });
      expect(await search('searchable')).toEqual(['still searchable']);
      expect(await kb().generation()).toBe(g0 + 1); // failures change no chunk
      expect((await kb().failSource({ uri: 'good.md', title: 'Renamed' }, 'again')).title).toBe('Renamed');
      const again = await kb().replaceSource(doc('good.md'), [kbChunk(0, 'still searchable')]);
      expect(again.source).toMatchObject({ id: source.id, status: 'indexed', error: null });
      expect(again.kept).toBe(1);
      expect((await kb().listSources()).map((s) => `${s.uri}:${s.status}`)).toEqual(['bad.pdf:error', 'good.md:indexed']);
    });

    it('deletes a source with its chunks, their index entries and their vectors', async () => {
      const { source } = await kb().replaceSource(doc('gone.md'), [kbChunk(0, 'vanishing words'), kbChunk(1, 'more vanishing')]);
      await kb().replaceSource(doc('stays.md'), [kbChunk(0, 'staying words')]);
      const ids = (await kb().searchLexical(['vanishing'], 10)).map((h) => h.chunkId);
      await kb().putVectors('m', (await kb().chunksWithoutVector('m', 10)).map((c) => ({ chunkId: c.chunkId, vector: vec(1, 2, 3) })));
      const g = await kb().generation();
      expect(await kb().deleteSource(source.id)).toBe(true);
      expect(await kb().generation()).toBeGreaterThan(g);
      expect(await kb().deleteSource(source.id)).toBe(false);
      expect(await kb().getSource(source.id)).toBeUndefined();
      expect(await kb().getChunks(ids)).toEqual([]);
      expect(await kb().searchLexical(['vanishing'], 10)).toEqual([]);
      expect(await kb().termStats(['vanishing', 'words'])).toEqual({ chunks: 1, df: { vanishing: 0, words: 1 } });
      expect((await kb().vectors('m')).map((v) => v.chunkId)).toEqual((await kb().searchLexical(['staying'], 1)).map((h) => h.chunkId));
      expect(await kb().chunksWithoutVector('m', 10)).toEqual([]);
      // Writing a vector for a chunk deleted meanwhile drops it quietly.
      await kb().putVectors('m', [{ chunkId: ids[0]!, vector: vec(9) }]);
      expect(await kb().vectors('m')).toHaveLength(1);
    });

    it('keeps vectors per model, exactly, the last written winning, and lists the chunks still missing one', async () => {
      await kb().replaceSource(doc('v.md'), [kbChunk(0, 'one', { headingPath: ['H'], questions: ['q?'] }), kbChunk(1, 'two'), kbChunk(2, 'three')]);
      const pending = await kb().chunksWithoutVector('m1', 10);
      expect(pending.map((c) => c.text)).toEqual(['one', 'two', 'three']);
      expect(pending[0]).toMatchObject({ headingPath: ['H'], questions: ['q?'] });
      expect(await kb().chunksWithoutVector('m1', 2)).toEqual(pending.slice(0, 2));
      expect(await kb().chunksWithoutVector('m1', 0)).toEqual([]);
      const exact = vec(0.1, -2.5e-8, 3.4e38, Number.MIN_VALUE);
      const [a, b, c] = pending.map((p) => p.chunkId) as [string, string, string];
      await kb().putVectors('m1', [{ chunkId: a, vector: vec(0) }, { chunkId: a, vector: exact }, { chunkId: b, vector: vec(1, 1) }]);
      await kb().putVectors('m2', [{ chunkId: c, vector: vec(7) }]);
      const m1 = new Map((await kb().vectors('m1')).map((v) => [v.chunkId, v.vector]));
      expect(m1.size).toBe(2);
      expect(m1.get(a)).toBeInstanceOf(Float32Array);
      expect([...m1.get(a)!]).toEqual([...exact]);
      expect((await kb().chunksWithoutVector('m1', 10)).map((p) => p.chunkId)).toEqual([c]);
      expect((await kb().chunksWithoutVector('m2', 10)).map((p) => p.chunkId)).toEqual([a, b]);
      await kb().putVectors('m1', [{ chunkId: b, vector: vec(5, 6) }]);
      expect([...(await kb().vectors('m1')).find((v) => v.chunkId === b)!.vector]).toEqual([5, 6]);
      expect(await kb().vectors('none')).toEqual([]);
      await expect(kb().putVectors('m1', [])).resolves.toBeUndefined();
    });

    it('moves the generation on every change of chunks or vectors, and every opening sees the same one', async () => {
      const g0 = await kb().generation();
      const { source } = await kb().replaceSource(doc('g.md'), [kbChunk(0, 'gen')]);
      const g1 = await kb().generation();
      expect(g1).toBeGreaterThan(g0);
      const [pending] = await kb().chunksWithoutVector('m', 1);
      await kb().putVectors('m', [{ chunkId: pending!.chunkId, vector: vec(1) }]);
      const g2 = await kb().generation();
      expect(g2).toBeGreaterThan(g1);
      await kb().putVectors('m', []);
      await kb().logUnanswered({ query: 'q', conversationId: null, channel: null, topChunkId: null, score: null });
      await kb().failSource({ uri: 'x.md' }, 'broken');
      expect(await kb().generation()).toBe(g2);
      await kb().replaceSource(doc('g.md'), [kbChunk(0, 'gen')]); // even with nothing changed: the caller asked
      const g3 = await kb().generation();
      expect(g3).toBeGreaterThan(g2);
      await fresh.reopen();
      expect(await kb().generation()).toBe(g3);
      await kb().deleteSource(source.id);
      expect(await kb().generation()).toBeGreaterThan(g3);
    });

    it('groups unanswered questions by their words, last asked first, and purges them past retention', async () => {
      await kb().logUnanswered({ query: 'How do I fly?', conversationId: 'c1', channel: 'telegram', topChunkId: null, score: null });
      clock.advance(1000);
      await kb().logUnanswered({ query: 'Where is the moon', conversationId: 'c2', channel: 'web', topChunkId: 'kc_x', score: 0.25 });
      clock.advance(1000);
      await kb().logUnanswered({ query: 'how do i FLY', conversationId: 'c3', channel: 'web', topChunkId: 'kc_y', score: 0.5 });
      clock.advance(1000);
      await kb().logUnanswered({ query: '???', conversationId: null, channel: null, topChunkId: null, score: null });
      const list = await kb().listUnanswered({ limit: 10 });
      expect(list.map((u) => [u.query, u.count])).toEqual([['???', 1], ['how do i FLY', 2], ['Where is the moon', 1]]);
      expect(list[1]).toMatchObject({ conversationId: 'c3', channel: 'web', topChunkId: 'kc_y', score: 0.5, at: clock.time - 1000 });
      expect(list[1]!.id).toMatch(/^ku_/);
      expect(list[2]).toMatchObject({ conversationId: 'c2', topChunkId: 'kc_x', score: 0.25 });
      expect((await kb().listUnanswered({ limit: 1, offset: 1 })).map((u) => u.query)).toEqual(['how do i FLY']);
      expect(await kb().listUnanswered({ limit: 0 })).toEqual([]);
      expect(await kb().purgeUnanswered(1500)).toBe(1); // the moon, last asked 2 s ago
      expect((await kb().listUnanswered({ limit: 10 })).map((u) => u.query)).toEqual(['???', 'how do i FLY']);
    });

    it('keeps everything across a restart', async () => {
      const { source } = await kb().replaceSource(doc('p.md'), [kbChunk(0, 'persistent words', { headingPath: ['Keep'] })]);
      const [hit] = await kb().searchLexical(['persistent'], 1);
      await kb().putVectors('m', [{ chunkId: hit!.chunkId, vector: vec(0.25, 0.5) }]);
      await kb().failSource({ uri: 'broken.md' }, 'bad');
      await kb().logUnanswered({ query: 'lost?', conversationId: 'c', channel: 'web', topChunkId: null, score: null });
      const before = { sources: await kb().listSources(), chunks: await kb().getChunks([hit!.chunkId]) };
      await fresh.reopen();
      expect(await kb().listSources()).toEqual(before.sources);
      expect(await kb().getSource(source.id)).toMatchObject({ status: 'indexed', chunks: 1 });
      expect(await kb().getChunks([hit!.chunkId])).toEqual(before.chunks);
      expect((await kb().searchLexical(['keep'], 5)).map((h) => h.chunkId)).toEqual([hit!.chunkId]);
      expect((await kb().vectors('m')).map((v) => [v.chunkId, [...v.vector]])).toEqual([[hit!.chunkId, [0.25, 0.5]]]);
      expect((await kb().listUnanswered({ limit: 5 })).map((u) => u.query)).toEqual(['lost?']);
      // And a replacement after the restart still keeps the chunk's id.
      expect((await kb().replaceSource(doc('p.md'), [kbChunk(0, 'persistent words', { headingPath: ['Keep'] })])).kept).toBe(1);
    });
  });
}
