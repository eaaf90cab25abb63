import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRelay, encodeProgress, encodeStatuses, encodeTokens, encodeWatch, MAX_PAYLOAD_BYTES } from '../../src/events/relay-payloads.js';

describe('relay payloads', () => {
  it('keeps every token payload under the NOTIFY limit and reassembles any text exactly', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 5000 }), fc.nat(1000), (text, offset) => {
        const payloads = encodeTokens('node', 'id', 1, offset, text);
        let joined = '';
        let next = offset;
        for (const p of payloads) {
          expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
          const relay = decodeRelay(p);
          expect(relay).toMatchObject({ kind: 'tokens', offset: next });
          if (relay?.kind !== 'tokens') throw new Error('not a token payload');
          joined += relay.text;
          next += relay.text.length;
        }
        expect(joined).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('packs many statuses and watches into payloads under the limit, losing none', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `01J${String(i).padStart(23, '0')}`);
    const watches = encodeWatch('node', ids);
    expect(watches.length).toBeGreaterThan(1);
    expect(watches.flatMap((p) => (decodeRelay(p) as { ids: string[] }).ids)).toEqual(ids);
    const statuses = ids.map((id) => ({ id, status: 'dead' as const, attempts: 3, error: 'e'.repeat(1000) }));
    const packed = encodeStatuses('node', statuses);
    for (const p of [...watches, ...packed]) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    const back = packed.flatMap((p) => (decodeRelay(p) as { statuses: Array<{ id: string; error?: string }> }).statuses);
    expect(back.map((s) => s.id)).toEqual(ids);
    expect(back[0]!.error!.length).toBe(300);
  });

  it("carries a tool loop's steps and tool results", () => {
    expect(decodeRelay(encodeProgress('node', 'm1', 2, { kind: 'step', index: 3 }))).toEqual({ kind: 'progress', node: 'node', id: 'm1', attempt: 2, event: { kind: 'step', index: 3 } });
    expect(decodeRelay(encodeProgress('node', 'm1', 2, { kind: 'tool', tool: 'lookup', ok: false, ms: 12, error: 'tool_timeout' }))).toEqual({
      kind: 'progress',
      node: 'node',
      id: 'm1',
      attempt: 2,
      event: { kind: 'tool', tool: 'lookup', ok: false, ms: 12, error: 'tool_timeout' },
    });
    expect(decodeRelay('{"n":"a","g":"m1","a":1,"e":["x","yes",1]}')).toBeUndefined();
  });

  it('ignores payloads that are not relays', () => {
    for (const p of ['', 'x', '{}', '[1]', '{"n":1}', '{"n":"a","s":[["id","bogus",1]]}']) {
      const relay = decodeRelay(p);
      expect(relay === undefined || (relay.kind === 'statuses' && relay.statuses.length === 0)).toBe(true);
    }
  });
});
