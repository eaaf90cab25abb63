import type { ChannelStore } from '../types.js';

/**
 * A backend's queue is also its ChannelStore (one object behind every role of a Store), but
 * the channel tables have a file of their own in each backend; this base forwards every
 * ChannelStore call to that object, so the queue files stay about messages.
 */
export abstract class ChannelDelegate implements ChannelStore {
  protected abstract readonly channels: ChannelStore;

  addDeliveries(...args: Parameters<ChannelStore['addDeliveries']>) {
    return this.channels.addDeliveries(...args);
  }
  claimDeliveries(...args: Parameters<ChannelStore['claimDeliveries']>) {
    return this.channels.claimDeliveries(...args);
  }
  updateDelivery(...args: Parameters<ChannelStore['updateDelivery']>) {
    return this.channels.updateDelivery(...args);
  }
  extendDeliveryLeases(...args: Parameters<ChannelStore['extendDeliveryLeases']>) {
    return this.channels.extendDeliveryLeases(...args);
  }
  recoverDeliveries(...args: Parameters<ChannelStore['recoverDeliveries']>) {
    return this.channels.recoverDeliveries(...args);
  }
  getDelivery(...args: Parameters<ChannelStore['getDelivery']>) {
    return this.channels.getDelivery(...args);
  }
  listDeliveries(...args: Parameters<ChannelStore['listDeliveries']>) {
    return this.channels.listDeliveries(...args);
  }
  retryDelivery(...args: Parameters<ChannelStore['retryDelivery']>) {
    return this.channels.retryDelivery(...args);
  }
  deliveryCounts() {
    return this.channels.deliveryCounts();
  }
  nextDeliveryDueAt() {
    return this.channels.nextDeliveryDueAt();
  }
  onDeliveries(...args: Parameters<ChannelStore['onDeliveries']>) {
    return this.channels.onDeliveries(...args);
  }
  applyReceipts(...args: Parameters<ChannelStore['applyReceipts']>) {
    return this.channels.applyReceipts(...args);
  }
  purgeDeliveries(...args: Parameters<ChannelStore['purgeDeliveries']>) {
    return this.channels.purgeDeliveries(...args);
  }
  acquireLease(...args: Parameters<ChannelStore['acquireLease']>) {
    return this.channels.acquireLease(...args);
  }
  renewLease(...args: Parameters<ChannelStore['renewLease']>) {
    return this.channels.renewLease(...args);
  }
  releaseLease(...args: Parameters<ChannelStore['releaseLease']>) {
    return this.channels.releaseLease(...args);
  }
  getCursor(...args: Parameters<ChannelStore['getCursor']>) {
    return this.channels.getCursor(...args);
  }
  setCursor(...args: Parameters<ChannelStore['setCursor']>) {
    return this.channels.setCursor(...args);
  }
  listLeases() {
    return this.channels.listLeases();
  }
  requestPairing(...args: Parameters<ChannelStore['requestPairing']>) {
    return this.channels.requestPairing(...args);
  }
  listPairings(...args: Parameters<ChannelStore['listPairings']>) {
    return this.channels.listPairings(...args);
  }
  approvePairing(...args: Parameters<ChannelStore['approvePairing']>) {
    return this.channels.approvePairing(...args);
  }
  denyPairing(...args: Parameters<ChannelStore['denyPairing']>) {
    return this.channels.denyPairing(...args);
  }
  isApproved(...args: Parameters<ChannelStore['isApproved']>) {
    return this.channels.isApproved(...args);
  }
  revokeApproval(...args: Parameters<ChannelStore['revokeApproval']>) {
    return this.channels.revokeApproval(...args);
  }
  purgeExpiredPairings() {
    return this.channels.purgeExpiredPairings();
  }
}
