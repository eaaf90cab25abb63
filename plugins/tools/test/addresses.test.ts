import { describe, expect, it } from 'vitest';
import { AddressPolicy } from '../addresses.js';

describe('fetch_url address policy', () => {
  const policy = new AddressPolicy();

  it('refuses loopback, private, link-local, reserved and their IPv6 and embedded forms', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::a9fe:a9fe']) {
      expect(policy.refusal(address), address).toMatch(/private, loopback or reserved/);
    }
  });

  it('lets public addresses through', () => {
    for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(policy.refusal(address), address).toBeUndefined();
  });

  it('opens only the ranges an operator names', () => {
    const intranet = new AddressPolicy(['10.1.0.0/16']);
    expect(intranet.refusal('10.1.2.3')).toBeUndefined();
    expect(intranet.refusal('10.2.0.1')).toMatch(/private/);
    expect(intranet.refusal('127.0.0.1')).toMatch(/loopback/);
    expect(() => new AddressPolicy(['intranet'])).toThrow(/not a CIDR range/);
  });
});
