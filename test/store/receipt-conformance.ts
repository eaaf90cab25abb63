import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryReceipt, Queue } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { delivery } from './channel-conformance.js';
import type { QueueFactory, QueueHarness } from './conformance.js';

const receipt = (deliveryId: string, part: number, platformMessageId: string, status: DeliveryReceipt['status'], at: number, error?: string): DeliveryReceipt => ({
  deliveryId,
  part,
  platformMessageId,
  status,
  at,
  ...(error !== undefined && { error }),
});

/**
 * Delivery receipts on every backend: platform statuses shown on their delivery, and a status
 * for a part held as ambiguous (or still in flight) taken as proof that the part arrived.
 */
export function describeReceiptConformance(backend: string, factory: QueueFactory): void {
  describe(`Delivery receipts: ${backend}`, () => {
    let clock: ManualClock;
    let harness: QueueHarness;
    let queue: Queue;

    beforeEach(async () => {
      clock = new ManualClock();
      harness = await factory(queueOptions({ now: clock.now }));
      queue = harness.queue;
    });
    afterEach(async () => {
      await harness.destroy();
    });

    const sendOne = async (lane = 'wa:A', ids = ['wamid.1']) => {
      const d = delivery(lane);
      await queue.addDeliveries([d]);
      const [claim] = await queue.claimDeliveries(1);
      expect(claim!.id).toBe(d.id);
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ids });
      return d;
    };

    it('shows the furthest status a sent delivery reached, with its time; failed wins and keeps its reason', async () => {
      const d = await sendOne();
      expect((await queue.getDelivery(d.id))!.receipt).toBeNull();
      expect(await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'sent', 1000), receipt(d.id, 0, 'wamid.1', 'delivered', 2000)])).toEqual(['recorded', 'recorded']);
      expect((await queue.getDelivery(d.id))!.receipt).toEqual({ status: 'delivered', at: 2000, error: null });
      await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'read', 3000)]);
      // Meta may send them out of order: a late "sent" does not take a read message back.
      await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'sent', 1500)]);
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'sent', receipt: { status: 'read', at: 3000, error: null } });

      const f = await sendOne('wa:B', ['wamid.2']);
      await queue.applyReceipts('wa', 'bot', [receipt(f.id, 0, 'wamid.2', 'failed', 4000, '#131026 Message undeliverable')]);
      await queue.applyReceipts('wa', 'bot', [receipt(f.id, 0, 'wamid.2', 'read', 5000)]);
      expect(await queue.getDelivery(f.id)).toMatchObject({ state: 'sent', receipt: { status: 'failed', at: 4000, error: '#131026 Message undeliverable' } });
      queue = await harness.reopen();
      expect((await queue.getDelivery(f.id))!.receipt).toEqual({ status: 'failed', at: 4000, error: '#131026 Message undeliverable' });
    });

    it("matches nothing for another account's, another channel's or another message's receipt", async () => {
      const d = await sendOne();
      expect(
        await queue.applyReceipts('wa', 'bot', [
          receipt('no-such-delivery', 0, 'wamid.1', 'read', 1),
          // The part went out under another id.
          receipt(d.id, 0, 'wamid.other', 'read', 1),
          // Beyond the parts there are.
          receipt(d.id, 5, 'wamid.5', 'read', 1),
        ]),
      ).toEqual(['unknown', 'unknown', 'unknown']);
      expect(await queue.applyReceipts('wa', 'other', [receipt(d.id, 0, 'wamid.1', 'read', 1)])).toEqual(['unknown']);
      expect(await queue.applyReceipts('tg', 'bot', [receipt(d.id, 0, 'wamid.1', 'read', 1)])).toEqual(['unknown']);
      expect((await queue.getDelivery(d.id))!.receipt).toBeNull();
    });

    it('fills in the id of a part whose send lost its answer', async () => {
      const d = await sendOne('wa:A', ['']);
      expect(await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.9', 'delivered', 7)])).toEqual(['recorded']);
      expect(await queue.getDelivery(d.id)).toMatchObject({ receipts: ['wamid.9'], receipt: { status: 'delivered' } });
    });

    it('resolves an ambiguous hold: the part is sent with its id, and the delivery goes on with the next part', async () => {
      const d = delivery('wa:A');
      const behind = delivery('wa:A');
      await queue.addDeliveries([d, behind]);
      let [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'plan', plan: { parts: [{ text: 'one' }, { text: 'two' }] } });
      await queue.updateDelivery(claim!, { kind: 'progress', nextPart: 1, receipts: ['wamid.1'] });
      await queue.updateDelivery(claim!, { kind: 'ambiguous', error: 'no answer in time' });
      // The held delivery no longer blocks its lane.
      [claim] = await queue.claimDeliveries(1);
      expect(claim!.id).toBe(behind.id);
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['wamid.b'] });

      let woken = 0;
      queue.onDeliveries(() => woken++);
      expect(await queue.applyReceipts('wa', 'bot', [receipt(d.id, 1, 'wamid.2', 'sent', 10)])).toEqual(['resolved']);
      expect(woken).toBeGreaterThan(0);
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'queued', nextPart: 2, receipts: ['wamid.1', 'wamid.2'], attempts: 1, lastError: null, errorClass: null, receipt: { status: 'sent', at: 10 } });
      // A second receipt for the same part only updates the status.
      expect(await queue.applyReceipts('wa', 'bot', [receipt(d.id, 1, 'wamid.2', 'delivered', 11)])).toEqual(['recorded']);
      [claim] = await queue.claimDeliveries(1);
      expect(claim).toMatchObject({ id: d.id, nextPart: 2, receipts: ['wamid.1', 'wamid.2'] });
    });

    it('keeps the proof of a part in flight, and applies it when that send ends ambiguous', async () => {
      const d = delivery('wa:A');
      await queue.addDeliveries([d]);
      const [claim] = await queue.claimDeliveries(1);
      expect(await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'sent', 10)])).toEqual(['recorded']);
      // The sender owns the row until its outcome: the receipt does not move it.
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'sending', nextPart: 0, receipts: [] });
      expect(await queue.updateDelivery(claim!, { kind: 'ambiguous', error: 'the connection was cut after the request' })).toBe(true);
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'queued', nextPart: 1, receipts: ['wamid.1'], lastError: null });
    });

    it('leaves a send that succeeded as it was when its proof came first', async () => {
      const d = delivery('wa:A');
      await queue.addDeliveries([d]);
      const [claim] = await queue.claimDeliveries(1);
      await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'sent', 10)]);
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['wamid.1'] });
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'sent', nextPart: 0, receipts: ['wamid.1'], receipt: { status: 'sent' } });
      expect(await queue.claimDeliveries(1)).toEqual([]);
    });

    it('applies the proof when a node that was sending died: the part is sent, not held', async () => {
      const d = delivery('wa:A');
      await queue.addDeliveries([d]);
      await queue.claimDeliveries(1);
      await queue.applyReceipts('wa', 'bot', [receipt(d.id, 0, 'wamid.1', 'delivered', 10)]);
      clock.advance(30_000);
      expect(await queue.recoverDeliveries(() => false)).toBe(1);
      expect(await queue.getDelivery(d.id)).toMatchObject({ state: 'queued', nextPart: 1, receipts: ['wamid.1'], receipt: { status: 'delivered' } });
      // Without a proof the row is held, as before.
      const other = delivery('wa:B');
      await queue.addDeliveries([other]);
      const claims = await queue.claimDeliveries(5);
      expect(claims.map((c) => c.id)).toContain(other.id);
      clock.advance(30_000);
      await queue.recoverDeliveries(() => false);
      expect(await queue.getDelivery(other.id)).toMatchObject({ state: 'ambiguous', nextPart: 0 });
    });
  });
}
