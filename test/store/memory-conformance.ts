import { beforeEach, describe, expect, it } from 'vitest';
import { fts5Query, tsQuery } from '../../src/store/core/memory.js';
import type { Queue } from '../../src/store/types.js';
import { tokenize } from '../../src/text/tokens.js';
import type { ManualClock } from '../support/index.js';
import { freshQueuePerTest, msg, type QueueFactory } from './conformance.js';

/**
 * What every backend's memory role must do (docs/memory.md): a lazily filled search index of
 * finished turns, facts per sender, summaries once per range, and forgetting a conversation.
 */
export function describeMemoryConformance(backend: string, factory: QueueFactory): void {
  describe(`Memory conformance: ${backend}`, () => {
    const fresh = freshQueuePerTest(factory);
    let queue: Queue;
    let clock: ManualClock;
    beforeEach(() => {
      ({ queue, clock } = fresh);
    });

    /** A finished turn: `text` answered with `reply`. */
    const turn = async (conversationId: string, text: string, reply = `re: ${text}`, sender = 'tg:ann') => {
      const { id } = await queue.enqueue(msg(conversationId, text, { sender, channel: 'telegram' }));
      const [claimed] = await queue.claim(1);
      expect(claimed?.id).toBe(id);
      await queue.complete(claimed!, { analysis: {}, reply: { text: reply, responder: 't' } });
      clock.advance(1000);
      return id;
    };
    const search = async (conversationId: string, query: string, limit = 5) => {
      await queue.memory.indexTurns(conversationId, 500);
      return queue.memory.searchTurns(conversationId, tokenize(query), limit);
    };

    it('indexes finished turns lazily and finds them by their words, best first, in their own conversation only', async () => {
      await turn('c1', 'my cat is called Whiskers', 'What a nice name');
      await turn('c1', 'the weather is grey today');
      await turn('c1', 'Whiskers the cat ate my cat food, silly cat');
      await turn('c2', 'another cat elsewhere');
      await queue.enqueue(msg('c1', 'cat still queued'));
      expect(await queue.memory.searchTurns('c1', ['cat'], 5)).toEqual([]); // nothing indexed before indexTurns
      expect(await queue.memory.indexTurns('c1', 500)).toBe(3);
      expect(await queue.memory.indexTurns('c1', 500)).toBe(0); // the watermark moved
      const hits = await queue.memory.searchTurns('c1', tokenize('CAT'), 5);
      expect(hits.map((h) => h.text)).toEqual(['Whiskers the cat ate my cat food, silly cat', 'my cat is called Whiskers']);
      expect(hits[0]).toMatchObject({ conversationId: 'c1', sender: 'tg:ann', channel: 'telegram', reply: 're: Whiskers the cat ate my cat food, silly cat' });
      expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
      expect(hits[1]!.at).toBeLessThan(hits[0]!.at);
      // The reply is searchable too; limit holds.
      expect((await search('c1', 'nice')).map((h) => h.text)).toEqual(['my cat is called Whiskers']);
      expect(await search('c1', 'cat', 1)).toHaveLength(1);
      expect(await search('c1', 'elsewhere')).toEqual([]);
    });

    it('finds Chinese and Japanese words, and full-width letters as ordinary ones', async () => {
      await turn('cjk', '我喜欢吃苹果', '苹果很好吃');
      await turn('cjk', '東京の天気は晴れです');
      await turn('cjk', 'ＰＩＮＣＥＲ rocks');
      expect((await search('cjk', '苹果')).map((h) => h.text)).toEqual(['我喜欢吃苹果']);
      expect((await search('cjk', '東京')).map((h) => h.text)).toEqual(['東京の天気は晴れです']);
      expect((await search('cjk', 'pincer')).map((h) => h.text)).toEqual(['ＰＩＮＣＥＲ rocks']);
    });

    it('never reads a query as search syntax', async () => {
      await turn('q', 'a quoted "word" and an OR here');
      const hostile = ['"a" OR *', 'NEAR(a b', '-x AND NOT', 'col:value', "it's", 'back\\slash', '""', "'", '*', ')(', 'a:* & !b'];
      for (const q of hostile) await expect(search('q', q)).resolves.toBeInstanceOf(Array);
      // Raw terms no tokenizer would make reach the engine quoted, too.
      for (const terms of [['"', "'", '\\', '*'], ['a" OR "b'], ["x' | 'y"]]) await expect(queue.memory.searchTurns('q', terms, 5)).resolves.toBeInstanceOf(Array);
      expect((await search('q', '"a" OR *')).map((h) => h.text)).toEqual(['a quoted "word" and an OR here']);
      expect(fts5Query(['a"b'])).toBe('"a""b"');
      expect(tsQuery(["it's", 'a\\b'])).toBe("'it''s' | 'a\\\\b'");
    });

    it('does not skip a turn that finishes after a later context record was stored', async () => {
      const { id } = await queue.enqueue(msg('w', 'first question about zebras', { sender: 'tg:ann' }));
      const [claimed] = await queue.claim(1);
      await queue.enqueue(msg('w', 'context line about zebras', { record: true }));
      expect(await queue.memory.indexTurns('w', 500)).toBe(0); // the record waits behind the unfinished message
      await queue.complete(claimed!, { analysis: {}, reply: { text: 'zebras are striped', responder: 't' } });
      expect(await queue.memory.indexTurns('w', 500)).toBe(2);
      expect((await queue.memory.searchTurns('w', ['zebras'], 5)).map((h) => h.messageId)).toContain(id);
    });

    it('keeps facts per sender: once per text, newest first, bounded, deleted by id or all', async () => {
      const ann = { channel: 'telegram', senderId: 'tg:ann' };
      const bob = { channel: 'telegram', senderId: 'tg:bob' };
      const first = await queue.memory.addFact(ann, 'likes tea', 3);
      expect(first).toMatchObject({ added: true, fact: { text: 'likes tea', channel: 'telegram', senderId: 'tg:ann' } });
      clock.advance(10);
      expect(await queue.memory.addFact(ann, 'likes tea', 3)).toEqual({ added: false, fact: first.fact });
      await queue.memory.addFact(ann, 'lives in Oslo', 3);
      clock.advance(10);
      await queue.memory.addFact(ann, 'has a dog', 3);
      await expect(queue.memory.addFact(ann, 'one too many', 3)).rejects.toMatchObject({ code: 'MEMORY_FACTS_FULL' });
      // The same text again is no new fact, even at the bound.
      expect((await queue.memory.addFact(ann, 'has a dog', 3)).added).toBe(false);
      await queue.memory.addFact(bob, 'likes tea', 3);
      expect((await queue.memory.listFacts(ann)).map((f) => f.text)).toEqual(['has a dog', 'lives in Oslo', 'likes tea']);
      expect(await queue.memory.deleteFacts(ann, [first.fact.id])).toBe(1);
      expect(await queue.memory.deleteFacts(bob, [first.fact.id])).toBe(0); // another sender's id does nothing
      expect(await queue.memory.deleteFacts(ann, 'all')).toBe(2);
      expect(await queue.memory.listFacts(ann)).toEqual([]);
      expect((await queue.memory.listFacts(bob)).map((f) => f.text)).toEqual(['likes tea']);
    });

    it('cuts summary blocks only when whole, before the history window, and keeps one summary per range', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await turn('s', `turn ${i}`));
      expect(await queue.memory.nextSummaryBlock('s', ids[2]!, 3)).toBeUndefined(); // only turns 0 and 1 are before the window
      const block = await queue.memory.nextSummaryBlock('s', ids[6]!, 3);
      expect(block?.map((t) => t.text)).toEqual(['turn 0', 'turn 1', 'turn 2']);
      const summary = { conversationId: 's', fromSeq: block![0]!.seq, toSeq: block![2]!.seq, turns: 3, text: 'they counted' };
      // Two attempts at the same range at once: one row.
      const results = await Promise.all([queue.memory.addSummary(summary), queue.memory.addSummary({ ...summary, text: 'other words' })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await queue.memory.listSummaries('s', ids[6]!)).toHaveLength(1);
      expect(await queue.memory.listSummaries('s', ids[2]!)).toEqual([]); // it covers turn 2, which is in that window
      const next = await queue.memory.nextSummaryBlock('s', ids[6]!, 3);
      expect(next?.map((t) => t.text)).toEqual(['turn 3', 'turn 4', 'turn 5']);
      expect(next?.[0]?.reply).toBe('re: turn 3');
      expect(await queue.memory.nextSummaryBlock('s', 'no-such-message', 3)).toBeUndefined();
    });

    it('forgets a conversation: summaries, index and its senders\' facts go, and nothing is rebuilt from stored history', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await turn('f', `secret plan number ${i}`, 'noted', i % 2 ? 'tg:bob' : 'tg:ann'));
      await turn('other', 'unrelated', 'ok', 'tg:carl');
      await queue.memory.addFact({ channel: 'telegram', senderId: 'tg:ann' }, 'ann fact', 10);
      await queue.memory.addFact({ channel: 'telegram', senderId: 'tg:bob' }, 'bob fact', 10);
      await queue.memory.addFact({ channel: 'telegram', senderId: 'tg:carl' }, 'carl fact', 10);
      expect(await search('f', 'secret')).toHaveLength(4);
      const block = (await queue.memory.nextSummaryBlock('f', ids[3]!, 2))!;
      await queue.memory.addSummary({ conversationId: 'f', fromSeq: block[0]!.seq, toSeq: block[1]!.seq, turns: 2, text: 'plans' });

      expect(await queue.memory.forgetConversation('f')).toEqual({ summaries: 1, turns: 4, facts: 2 });
      expect(await search('f', 'secret')).toEqual([]);
      expect(await queue.memory.indexTurns('f', 500)).toBe(0);
      expect(await queue.memory.listSummaries('f', ids[3]!)).toEqual([]);
      expect(await queue.memory.nextSummaryBlock('f', ids[3]!, 2)).toBeUndefined();
      expect(await queue.memory.addSummary({ conversationId: 'f', fromSeq: block[0]!.seq, toSeq: block[1]!.seq, turns: 2, text: 'late' })).toBe(false);
      expect(await queue.memory.listFacts({ channel: 'telegram', senderId: 'tg:ann' })).toEqual([]);
      expect((await queue.memory.listFacts({ channel: 'telegram', senderId: 'tg:carl' })).map((f) => f.text)).toEqual(['carl fact']);
      expect(await search('other', 'unrelated')).toHaveLength(1);
      // What is said after the deletion is remembered again.
      await turn('f', 'a new secret');
      expect((await search('f', 'secret')).map((h) => h.text)).toEqual(['a new secret']);
      // And a conversation never seen is forgotten without error.
      expect(await queue.memory.forgetConversation('never')).toEqual({ summaries: 0, turns: 0, facts: 0 });
    });

    it('purges indexed turns and summaries past retention, and keeps facts', async () => {
      const ids = [await turn('r', 'old news one'), await turn('r', 'old news two')];
      await queue.memory.indexTurns('r', 500);
      const block = (await queue.memory.nextSummaryBlock('r', ids[1]!, 1))!;
      await queue.memory.addSummary({ conversationId: 'r', fromSeq: block[0]!.seq, toSeq: block[0]!.seq, turns: 1, text: 'old' });
      await queue.memory.addFact({ channel: 'telegram', senderId: 'tg:ann' }, 'kept fact', 10);
      clock.advance(3_600_000);
      const fresh = await turn('r', 'fresh news');
      expect(await queue.memory.purge(1_800_000)).toBe(3);
      expect((await search('r', 'news')).map((h) => h.text)).toEqual(['fresh news']);
      expect(await queue.memory.listSummaries('r', fresh)).toEqual([]);
      expect(await queue.memory.listFacts({ channel: 'telegram', senderId: 'tg:ann' })).toHaveLength(1);
    });
  });
}
