import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApprovalInsert, ClaimedMessage, JournalEntry, Queue } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { msg, type QueueFactory, type QueueHarness } from './conformance.js';

const entry = (step: number, call: number, state: JournalEntry['state'], what: string, attempt = 1): JournalEntry => ({ step, call, state, entry: { what }, attempt });

/** The agent's tables on every backend: the tool loop's journal, fenced by the message lease, and approvals. */
export function describeAgentConformance(backend: string, factory: QueueFactory): void {
  describe(`Agent journal and approvals: ${backend}`, () => {
    let clock: ManualClock;
    let harness: QueueHarness;
    let queue: Queue;

    beforeEach(async () => {
      clock = new ManualClock();
      harness = await factory(queueOptions({ now: clock.now, leaseMs: 1_000 }));
      queue = harness.queue;
    });
    afterEach(async () => {
      await harness.destroy();
    });

    const claimOne = async (text = 'refund my order'): Promise<ClaimedMessage> => {
      await queue.enqueue(msg(`c-${Math.random()}`, text));
      const [claim] = await queue.claim(1);
      expect(claim).toBeDefined();
      return claim!;
    };

    it('keeps a message journal in step and call order, overwriting a started row with its result, across a restart', async () => {
      const claim = await claimOne();
      expect(await queue.agent.journal(claim.id)).toEqual([]);
      expect(await queue.agent.writeJournal(claim, [entry(1, 0, 'started', 'b'), entry(0, -1, 'finished', 'model')])).toBe(true);
      // A write that need not wait for the disk is made durable by the next one that does.
      expect(await queue.agent.writeJournal(claim, [entry(1, 0, 'finished', 'b done')], { durable: false })).toBe(true);
      expect(await queue.agent.writeJournal(claim, [entry(1, 1, 'started', 'c')])).toBe(true);
      queue = await harness.reopen();
      expect(await queue.agent.journal(claim.id)).toEqual([entry(0, -1, 'finished', 'model'), entry(1, 0, 'finished', 'b done'), entry(1, 1, 'started', 'c')]);
    });

    it('refuses journal writes from a worker whose lease moved on, and from one whose message is finished', async () => {
      const stale = await claimOne();
      clock.advance(1_001);
      const [fresh] = await queue.claim(1);
      expect(fresh!.id).toBe(stale.id);
      expect(fresh!.lease).not.toBe(stale.lease);
      expect(await queue.agent.writeJournal(stale, [entry(0, 0, 'started', 'stale')])).toBe(false);
      expect(await queue.agent.writeJournal(fresh!, [entry(0, 0, 'started', 'fresh', 2)])).toBe(true);
      expect(await queue.agent.journal(stale.id)).toEqual([entry(0, 0, 'started', 'fresh', 2)]);
      await queue.complete(fresh!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      expect(await queue.agent.writeJournal(fresh!, [entry(0, 0, 'finished', 'late', 2)])).toBe(false);
      // Nothing fenced out was written.
      expect(await queue.agent.journal(stale.id)).toEqual([entry(0, 0, 'started', 'fresh', 2)]);
    });

    it('purges journal rows past retention', async () => {
      await queue.enqueue(msg('c-old', 'one'));
      await queue.enqueue(msg('c-new', 'two'));
      const [claim, other] = await queue.claim(2);
      await queue.agent.writeJournal(claim!, [entry(0, -1, 'finished', 'old')]);
      clock.advance(10_000);
      // A lease that ran out but was not taken still fences nothing out.
      expect(await queue.agent.writeJournal(other!, [entry(0, -1, 'finished', 'new')])).toBe(true);
      expect(await queue.agent.purge(5_000)).toBe(1);
      expect(await queue.agent.journal(claim!.id)).toEqual([]);
      expect(await queue.agent.journal(other!.id)).toHaveLength(1);
    });

    const approval = (claim: ClaimedMessage, id: string, expiresIn = 60_000): ApprovalInsert => ({
      id,
      messageId: claim.id,
      conversationId: claim.conversationId,
      channel: claim.channel,
      sender: 'ann',
      tool: 'refund_order',
      arguments: '{"order":"A-1","amount":20}',
      request: { text: claim.text, callId: 'call_1' },
      expiresAt: clock.now() + expiresIn,
    });

    it('records an approval once (a replay gets the same one back), fenced by the lease', async () => {
      const claim = await claimOne();
      const first = await queue.agent.requestApproval(claim, approval(claim, 'ap_1'));
      expect(first).toMatchObject({ id: 'ap_1', state: 'pending', tool: 'refund_order', arguments: '{"order":"A-1","amount":20}', request: { callId: 'call_1' }, decidedAt: null, continuationId: null });
      clock.advance(10);
      const again = await queue.agent.requestApproval(claim, { ...approval(claim, 'ap_1'), arguments: '{"order":"B-2"}' });
      expect(again).toEqual(first);
      clock.advance(1_000);
      await queue.claim(1);
      expect(await queue.agent.requestApproval(claim, approval(claim, 'ap_2'))).toBeNull();
      expect(await queue.agent.getApproval('ap_2')).toBeUndefined();
    });

    it('decides a pending approval once; the loser sees the winner, and an unknown id is undefined', async () => {
      const claim = await claimOne();
      await queue.agent.requestApproval(claim, approval(claim, 'ap_1'));
      const [a, b] = await Promise.all([queue.agent.decideApproval('ap_1', 'approved', 'admin'), queue.agent.decideApproval('ap_1', 'denied', 'bob')]);
      expect([a!.decided, b!.decided].sort()).toEqual([false, true]);
      const winner = a!.decided ? a! : b!;
      expect(a!.approval.state).toBe(winner.approval.state);
      expect(b!.approval.state).toBe(winner.approval.state);
      expect(winner.approval).toMatchObject({ decidedAt: clock.now(), decidedBy: winner.approval.state === 'approved' ? 'admin' : 'bob' });
      expect(await queue.agent.decideApproval('nope', 'approved', 'admin')).toBeUndefined();
    });

    it('expires pending approvals whose time is up, and lists decided ones until their continuation is noted', async () => {
      const claim = await claimOne();
      await queue.agent.requestApproval(claim, approval(claim, 'ap_soon', 1_000));
      await queue.agent.requestApproval(claim, approval(claim, 'ap_late', 100_000));
      expect(await queue.agent.expireApprovals()).toEqual([]);
      clock.advance(1_000);
      const expired = await queue.agent.expireApprovals();
      expect(expired.map((a) => [a.id, a.state, a.decidedBy])).toEqual([['ap_soon', 'expired', 'expiry']]);
      expect(await queue.agent.decideApproval('ap_soon', 'approved', 'admin')).toMatchObject({ decided: false, approval: { state: 'expired' } });
      clock.advance(1);
      await queue.agent.decideApproval('ap_late', 'denied', 'admin');
      expect((await queue.agent.undispatchedApprovals(10)).map((a) => a.id)).toEqual(['ap_soon', 'ap_late']);
      await queue.agent.markDispatched('ap_soon', 'msg-x');
      expect((await queue.agent.undispatchedApprovals(10)).map((a) => a.id)).toEqual(['ap_late']);
      expect(await queue.agent.getApproval('ap_soon')).toMatchObject({ continuationId: 'msg-x' });
    });

    it('lists approvals newest first, by state, with paging', async () => {
      const claim = await claimOne();
      for (const id of ['ap_a', 'ap_b', 'ap_c']) {
        await queue.agent.requestApproval(claim, approval(claim, id));
        clock.advance(1);
      }
      await queue.agent.decideApproval('ap_b', 'approved', 'admin');
      expect((await queue.agent.listApprovals({ limit: 10 })).map((a) => a.id)).toEqual(['ap_c', 'ap_b', 'ap_a']);
      expect((await queue.agent.listApprovals({ limit: 10, state: 'pending' })).map((a) => a.id)).toEqual(['ap_c', 'ap_a']);
      expect((await queue.agent.listApprovals({ limit: 1, offset: 1 })).map((a) => a.id)).toEqual(['ap_b']);
      // A decided approval with its continuation goes at retention; a pending one stays.
      await queue.agent.markDispatched('ap_b', 'msg-y');
      clock.advance(10_000);
      expect(await queue.agent.purge(5_000)).toBe(1);
      expect((await queue.agent.listApprovals({ limit: 10 })).map((a) => a.id)).toEqual(['ap_c', 'ap_a']);
    });
  });
}
