/**
 * `/approve <id>` and `/deny <id>` in a chat, for the senders `tools.approvers` names (as
 * their channel identifies them). Anyone else is told they may not; nothing changes.
 */
import { isErrorCode } from '../errors.js';
import type { Command } from '../pipeline/types.js';
import type { ApprovalDesk } from './approvals.js';
import type { ToolPolicy } from './policy.js';

const ID = /^ap_[0-9a-f]{12}$/;

export function approvalCommands(desk: ApprovalDesk, policy: ToolPolicy): Command[] {
  const decide = (decision: 'approved' | 'denied'): Command['run'] => async (ctx) => {
    const caller = { channel: ctx.message.channel, sender: ctx.message.sender };
    if (!policy.mayApprove(caller)) return 'You may not decide approvals (tools.approvers does not list you).';
    const id = ctx.args.split(/\s+/)[0] ?? '';
    if (!ID.test(id)) return `Usage: /${decision === 'approved' ? 'approve' : 'deny'} <approval id>, such as ap_3f9a1c2b7d4e.`;
    try {
      const approval = await desk.decide(id, decision, `${caller.channel}:${caller.sender}`);
      return decision === 'approved' ? `Approved ${id}: ${approval.tool} runs now, and the result goes to its conversation.` : `Denied ${id}: ${approval.tool} will not run.`;
    } catch (err) {
      if (isErrorCode(err, 'TOOL_APPROVAL_NOT_FOUND', 'TOOL_APPROVAL_DECIDED')) return `${(err as Error).message}.`;
      throw err;
    }
  };
  return [
    { name: 'approve', description: 'approve a tool call waiting for approval', usage: '<approval id>', run: decide('approved') },
    { name: 'deny', description: 'deny a tool call waiting for approval', usage: '<approval id>', run: decide('denied') },
  ];
}
