import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import { PENDING_TOOL_TTL_MS, pendingToolReader } from '../../src/responders/local-pending.js';
import type { MessageRecord } from '../../src/store/types.js';

const NOW = 1_000_000_000;
const pending: JsonObject = { tool: 'order_status', arguments: {}, missing: ['order_id'] };

function record(id: string, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id, conversationId: 'c', text: 'x', sender: 'api:alice', channel: 'api', priority: 'normal', metadata: null, idempotencyKey: null, state: 'done', attempts: 1,
    createdAt: NOW, updatedAt: NOW, availableAt: NOW, startedAt: NOW, finishedAt: NOW - 1000, analysis: {}, reply: { text: 'which order?', responder: 'model', data: { pendingTool: pending } }, lastError: null,
    ...over,
  } as MessageRecord;
}

describe('the pending tool call of the last reply', () => {
  const current = { id: 'now', conversationId: 'c', sender: 'api:alice' };
  const reader = (records: MessageRecord[], active = true) => {
    const reads: number[] = [];
    const read = pendingToolReader({ latest: async (_c, limit) => (reads.push(limit), records) }, { active: () => active, now: () => NOW });
    return { read, reads };
  };

  it("is the newest answered message's reply.data.pendingTool, from the same sender, within the TTL", async () => {
    expect(await reader([record('old', { reply: { text: 'hi', responder: 'model' } }), record('q'), record('now', { state: 'processing', reply: null })]).read(current)).toEqual(pending);
  });

  it('is nothing when a later answer came between, another sender asked, or the question is too old', async () => {
    expect(await reader([record('q'), record('later', { reply: { text: 'hello', responder: 'model', data: {} } })]).read(current)).toBeUndefined();
    expect(await reader([record('q', { sender: 'api:bob' })]).read(current)).toBeUndefined();
    expect(await reader([record('q', { finishedAt: NOW - PENDING_TOOL_TTL_MS - 1 })]).read(current)).toBeUndefined();
    expect(await reader([record('q', { state: 'failed' })]).read(current)).toBeUndefined();
  });

  it('reads nothing while no tool declares examples', async () => {
    const { read, reads } = reader([record('q')], false);
    expect(await read(current)).toBeUndefined();
    expect(reads).toEqual([]);
  });
});
