import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PairingRequest, Queue } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import type { QueueFactory, QueueHarness } from './conformance.js';

const HOUR = 3_600_000;

/**
 * What every backend must do for channels' job leases (one poller per bot account) and
 * pairing (codes for unknown senders, approvals). Expiry is driven by the manual clock.
 */
export function describeLeaseAndPairingConformance(backend: string, factory: QueueFactory): void {
  describe(`Job leases and pairing conformance: ${backend}`, () => {
    let clock: ManualClock;
    let harness: QueueHarness;
    let queue: Queue;
    const request = (senderId: string, code: string, extra: Partial<PairingRequest> = {}): PairingRequest => ({
      channel: 'tg',
      account: 'bot',
      senderId,
      code,
      createdAt: clock.time,
      expiresAt: clock.time + HOUR,
      ...extra,
    });

    beforeEach(async () => {
      clock = new ManualClock();
      harness = await factory(queueOptions({ now: clock.now }));
      queue = harness.queue;
    });
    afterEach(async () => {
      await harness.destroy();
    });

    it('gives a lease to one holder at a time, renews it for that holder, and a new holder gets a higher fence', async () => {
      const a = await queue.acquireLease('poll:tg:bot', 'node-a', 10_000);
      expect(a).toEqual({ name: 'poll:tg:bot', holder: 'node-a', fence: 1, expiresAt: clock.time + 10_000 });
      expect(await queue.acquireLease('poll:tg:bot', 'node-b', 10_000)).toBeNull();
      clock.advance(5_000);
      // Acquiring again is a renewal: same fence, later expiry.
      expect(await queue.acquireLease('poll:tg:bot', 'node-a', 10_000)).toEqual({ ...a, expiresAt: clock.time + 10_000 });
      expect(await queue.renewLease(a!, 10_000)).toBe(true);
      clock.advance(9_999);
      expect(await queue.acquireLease('poll:tg:bot', 'node-b', 10_000)).toBeNull();
      clock.advance(1);
      const b = await queue.acquireLease('poll:tg:bot', 'node-b', 10_000);
      expect(b).toMatchObject({ holder: 'node-b', fence: 2 });
      // The old holder finds out at its next renewal, and its release changes nothing.
      expect(await queue.renewLease(a!, 10_000)).toBe(false);
      await queue.releaseLease(a!);
      expect(await queue.listLeases()).toEqual([b]);
      expect(await queue.acquireLease('other', 'node-a', 10_000)).toMatchObject({ fence: 1 });
      expect((await queue.listLeases()).map((l) => l.name)).toEqual(['other', 'poll:tg:bot']);
    });

    it('renews a lease that expired while nobody took it, and never hands out a fence twice after a release', async () => {
      const a = await queue.acquireLease('job', 'node-a', 1_000);
      clock.advance(5_000);
      expect(await queue.renewLease(a!, 1_000)).toBe(true);
      expect((await queue.listLeases())[0]).toMatchObject({ holder: 'node-a', fence: 1, expiresAt: clock.time + 1_000 });
      expect(await queue.renewLease({ ...a!, fence: 2 }, 1_000)).toBe(false);
      expect(await queue.renewLease({ ...a!, holder: 'node-b' }, 1_000)).toBe(false);
      await queue.releaseLease({ ...a!, fence: 9 });
      expect(await queue.acquireLease('job', 'node-b', 1_000)).toBeNull();
      await queue.releaseLease(a!);
      expect(await queue.listLeases()).toEqual([]);
      expect(await queue.renewLease(a!, 1_000)).toBe(false);
      // Even the same holder comes back with a new fence: its old tenure is over.
      expect(await queue.acquireLease('job', 'node-a', 1_000)).toMatchObject({ holder: 'node-a', fence: 2 });
    });

    it('gives a sender one live code, at most three per account, and forgets expired ones', async () => {
      const first = await queue.requestPairing(request('u1', 'abcd2345'), 3);
      expect(first).toEqual({ kind: 'created', pairing: request('u1', 'ABCD2345') });
      clock.advance(1_000);
      expect(await queue.requestPairing(request('u1', 'ZZZZ9999'), 3)).toEqual({ kind: 'pending', pairing: request('u1', 'ABCD2345', { createdAt: clock.time - 1_000, expiresAt: clock.time - 1_000 + HOUR }) });
      for (const [sender, code] of [['u2', 'BBBB2222'], ['u3', 'CCCC3333']] as const) {
        clock.advance(1);
        expect((await queue.requestPairing(request(sender, code), 3)).kind).toBe('created');
      }
      expect(await queue.requestPairing(request('u4', 'DDDD4444'), 3)).toEqual({ kind: 'full' });
      // Another account has its own three.
      clock.advance(1);
      expect((await queue.requestPairing(request('u4', 'EEEE5555', { account: 'other' }), 3)).kind).toBe('created');
      expect((await queue.listPairings('tg')).map((p) => p.senderId)).toEqual(['u4', 'u3', 'u2', 'u1']);
      expect(await queue.listPairings('nowhere')).toEqual([]);

      // u1's code expires: it holds no place any more, and u1 may ask again.
      clock.advance(HOUR - 1_000);
      expect((await queue.listPairings()).map((p) => p.senderId)).toEqual(['u4', 'u3', 'u2']);
      expect((await queue.requestPairing(request('u5', 'ABCD2345'), 3)).kind).toBe('created');
      expect(await queue.requestPairing(request('u1', 'FFFF6666'), 3)).toEqual({ kind: 'full' });
      expect(await queue.approvePairing('tg', 'abcd2345', 'admin')).toMatchObject({ senderId: 'u5' });
      expect(await queue.requestPairing(request('u1', 'FFFF6666'), 3)).toMatchObject({ kind: 'created' });
    });

    it('refuses a code another sender of the channel holds live', async () => {
      await queue.requestPairing(request('u1', 'SAME1234'), 3);
      await expect(queue.requestPairing(request('u2', 'same1234', { account: 'other' }), 3)).rejects.toMatchObject({ code: 'MESSAGE_REJECTED' });
      expect((await queue.listPairings()).map((p) => p.senderId)).toEqual(['u1']);
    });

    it('approves a live code without regard to case, once; denies one; ignores expired ones', async () => {
      await queue.requestPairing(request('u1', 'AAAA1111'), 3);
      await queue.requestPairing(request('u2', 'BBBB2222'), 3);
      await queue.requestPairing(request('u3', 'CCCC3333', { expiresAt: clock.time + 1_000 }), 3);
      expect(await queue.isApproved('tg', 'bot', 'u1')).toBe(false);
      expect(await queue.approvePairing('tg', 'aaaa1111', 'alice')).toMatchObject({ senderId: 'u1', code: 'AAAA1111' });
      expect(await queue.isApproved('tg', 'bot', 'u1')).toBe(true);
      expect(await queue.isApproved('tg', 'other', 'u1')).toBe(false);
      expect(await queue.isApproved('wh', 'bot', 'u1')).toBe(false);
      expect(await queue.approvePairing('tg', 'AAAA1111', 'alice')).toBeUndefined();
      expect(await queue.approvePairing('wh', 'BBBB2222', 'alice')).toBeUndefined();

      expect(await queue.denyPairing('tg', 'bbbb2222')).toMatchObject({ senderId: 'u2' });
      expect(await queue.denyPairing('tg', 'BBBB2222')).toBeUndefined();
      expect(await queue.isApproved('tg', 'bot', 'u2')).toBe(false);

      clock.advance(1_000);
      expect(await queue.approvePairing('tg', 'CCCC3333', 'alice')).toBeUndefined();
      expect(await queue.isApproved('tg', 'bot', 'u3')).toBe(false);
      expect(await queue.listPairings()).toEqual([]);
      queue = await harness.reopen();
      expect(await queue.isApproved('tg', 'bot', 'u1')).toBe(true);
      // An approval taken back is gone; taking it again finds nothing.
      expect(await queue.revokeApproval('tg', 'other', 'u1')).toBe(false);
      expect(await queue.revokeApproval('tg', 'bot', 'u1')).toBe(true);
      expect(await queue.isApproved('tg', 'bot', 'u1')).toBe(false);
      expect(await queue.revokeApproval('tg', 'bot', 'u1')).toBe(false);
    });

    it('purges expired pairing requests and keeps live ones', async () => {
      await queue.requestPairing(request('u1', 'AAAA1111', { expiresAt: clock.time + 1_000 }), 3);
      await queue.requestPairing(request('u2', 'BBBB2222'), 3);
      clock.advance(1_000);
      expect(await queue.purgeExpiredPairings()).toBe(1);
      expect(await queue.purgeExpiredPairings()).toBe(0);
      expect((await queue.listPairings()).map((p) => p.senderId)).toEqual(['u2']);
    });

    it('keeps one cursor per account, the newest write winning, and survives a reopen', async () => {
      expect(await queue.getCursor('mx', 'bot')).toBeNull();
      await queue.setCursor('mx', 'bot', { since: 's1', rooms: ['!a:x'] });
      await queue.setCursor('mx', 'other', 'batch-7');
      await queue.setCursor('mx', 'bot', { since: 's2' });
      const reopened = await harness.reopen();
      expect(await reopened.getCursor('mx', 'bot')).toEqual({ since: 's2' });
      expect(await reopened.getCursor('mx', 'other')).toBe('batch-7');
      expect(await reopened.getCursor('tg', 'bot')).toBeNull();
      await expect(reopened.setCursor('mx', 'bot', { huge: 'x'.repeat(20_000) })).rejects.toMatchObject({ code: 'REPLY_UNSTORABLE' });
    });
  });
}
