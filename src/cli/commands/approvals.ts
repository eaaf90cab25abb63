import type { Command } from 'commander';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';

interface ApprovalView {
  id: string;
  state: string;
  tool: string;
  arguments: unknown;
  conversationId: string;
  channel: string;
  sender: string | null;
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
}

const STATES = ['pending', 'approved', 'denied', 'expired'];

/** `pincer approvals ...`: tool calls waiting for a person (admin). */
export function approvalsCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  const approvals = program.command('approvals').description('tool calls that wait for a person to approve them (admin)');

  approvals
    .command('list')
    .description('approvals, newest first (pending ones by default)')
    .option('-s, --state <state>', `one of ${STATES.join(', ')}, or "all"`, 'pending')
    .option('-n, --limit <n>', 'how many', '50')
    .action(async (opts: { state: string; limit: string }) => {
      const g = globals();
      const query = new URLSearchParams({ limit: opts.limit, ...(opts.state !== 'all' && { state: opts.state }) });
      const { body } = await ApiClient.from(g).call<{ approvals: ApprovalView[] }>('GET', `/v1/admin/approvals?${query}`);
      print(!!g.json, body, () =>
        body.approvals.length === 0
          ? `no ${opts.state === 'all' ? '' : `${opts.state} `}approvals`
          : table([
              ['ID', 'STATE', 'TOOL', 'ARGUMENTS', 'WHERE', 'EXPIRES', 'DECIDED BY'],
              ...body.approvals.map((a) => [a.id, a.state, a.tool, JSON.stringify(a.arguments).slice(0, 60), `${a.channel}:${a.sender ?? '-'}`, a.expiresAt, a.decidedBy ?? '-']),
            ]),
      );
    });

  for (const action of ['approve', 'deny'] as const) {
    approvals
      .command(action)
      .description(action === 'approve' ? 'run the call with exactly its recorded arguments; the bot replies in its conversation' : 'refuse the call; the bot tells its conversation')
      .argument('<id>', 'the approval id, e.g. ap_3f9a1c2b7d4e')
      .option('--by <name>', 'who decides (recorded as admin:<name>)')
      .action(async (id: string, opts: { by?: string }) => {
        const g = globals();
        const { body } = await ApiClient.from(g).call<{ approval: ApprovalView }>('POST', `/v1/admin/approvals/${encodeURIComponent(id)}`, { decision: action, ...(opts.by && { by: opts.by }) });
        print(!!g.json, body, () => `${body.approval.id} ${body.approval.state}: ${body.approval.tool}`);
      });
  }
}
