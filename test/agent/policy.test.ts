import { describe, expect, it } from 'vitest';
import { ToolPolicy } from '../../src/agent/policy.js';
import { toolsSchema } from '../../src/config/tools-schema.js';
import type { Tool } from '../../src/pipeline/types.js';

const tool = (name: string, approval?: 'always'): Tool => ({ name, description: name, parameters: { type: 'object' }, effect: 'read', execute: async () => null, ...(approval && { approval }) });
const all = new Map(['lookup_order', 'refund_order', 'refund_all', 'fetch_url', 'current_time'].map((n) => [n, tool(n)]));
const policy = (config: unknown) => new ToolPolicy(toolsSchema.parse(config));
const offered = (p: ToolPolicy, channel: string, sender?: string) => [...p.offered(all, { channel, ...(sender && { sender }) }).keys()];

describe('tool policy', () => {
  it('offers every tool by default, and no approvals or approvers', () => {
    const p = policy({});
    expect(offered(p, 'telegram', 'u1')).toEqual([...all.keys()]);
    expect(p.needsApproval(tool('refund_order'), { channel: 'telegram' })).toBe(false);
    expect(p.mayApprove({ channel: 'telegram', sender: 'u1' })).toBe(false);
    expect(p.approvalTimeoutMs).toBe(86_400_000);
  });

  it('applies global allow and deny globs ("*" any run, "?" one character)', () => {
    const p = policy({ allow: ['refund_*', 'lookup_order', 'current_tim?'], deny: ['refund_al?'] });
    expect(offered(p, 'api')).toEqual(['lookup_order', 'refund_order', 'current_time']);
  });

  it('narrows per channel and per sender, and a narrower level never adds back what a wider one took', () => {
    const p = policy({
      deny: ['fetch_url'],
      channels: { telegram: { allow: ['lookup_*', 'refund_*', 'fetch_url'], deny: ['refund_all'] } },
      senders: { 'telegram:42': { allow: ['refund_order', 'fetch_url'] }, 'slack:42': { deny: ['*'] } },
    });
    expect(offered(p, 'api')).toEqual(['lookup_order', 'refund_order', 'refund_all', 'current_time']);
    expect(offered(p, 'telegram', 'u1')).toEqual(['lookup_order', 'refund_order']);
    // The same id on another channel is another person: sender rules are per channel identity.
    expect(offered(p, 'telegram', '42')).toEqual(['refund_order']);
    expect(offered(p, 'slack', '42')).toEqual([]);
    expect(offered(p, 'discord', '42')).toEqual(['lookup_order', 'refund_order', 'refund_all', 'current_time']);
  });

  it('asks approval for tools that declare it and for those any level names', () => {
    const p = policy({ approval: ['refund_all'], channels: { whatsapp: { approval: ['refund_*'] } }, senders: { 'api:intern': { approval: ['*'] } } });
    expect(p.needsApproval(tool('lookup_order', 'always'), { channel: 'api' })).toBe(true);
    expect(p.needsApproval(tool('refund_all'), { channel: 'api' })).toBe(true);
    expect(p.needsApproval(tool('refund_order'), { channel: 'api' })).toBe(false);
    expect(p.needsApproval(tool('refund_order'), { channel: 'whatsapp', sender: 'x' })).toBe(true);
    expect(p.needsApproval(tool('current_time'), { channel: 'api', sender: 'intern' })).toBe(true);
    expect(p.needsApproval(tool('current_time'), { channel: 'api', sender: 'boss' })).toBe(false);
  });

  it('lets only the listed channel identities decide approvals from a chat', () => {
    const p = policy({ approvers: ['telegram:42'] });
    expect(p.mayApprove({ channel: 'telegram', sender: '42' })).toBe(true);
    expect(p.mayApprove({ channel: 'slack', sender: '42' })).toBe(false);
    expect(p.mayApprove({ channel: 'telegram', sender: null })).toBe(false);
  });

  it('refuses globs that are not tool names and senders without a channel', () => {
    expect(toolsSchema.safeParse({ allow: ['refund order'] }).success).toBe(false);
    expect(toolsSchema.safeParse({ deny: ['a.*'] }).success).toBe(false);
    expect(toolsSchema.safeParse({ senders: { alice: { deny: ['*'] } } }).success).toBe(false);
    expect(toolsSchema.safeParse({ approvers: ['42'] }).success).toBe(false);
    expect(toolsSchema.safeParse({ channels: { telegram: { allow: ['*'], extra: 1 } } }).success).toBe(false);
  });
});
