import type { Command } from 'commander';
import { PincerError } from '../../errors.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print, table } from '../output.js';

interface AccountView {
  channel: string;
  account: string;
  transport: string | null;
  state: string;
  detail: string | null;
  hint: string | null;
  lastPollAgeMs: number | null;
  leader: boolean;
  eventsIn: number;
  deliveries: Record<string, number>;
}

interface DeliveryView {
  id: string;
  channel: string;
  account: string;
  lane: string;
  state: string;
  attempts: number;
  parts: number | null;
  partsSent: number;
  lastError: string | null;
  createdAt: string;
  receipt: { status: string; at: string; error: string | null } | null;
}

/** The platform's status of a delivery: "read 12:03:04", "failed: #131047 ...". */
function receiptText(d: DeliveryView): string {
  if (!d.receipt) return '-';
  const when = d.receipt.at.slice(11, 19);
  return d.receipt.error === null ? `${d.receipt.status} ${when}` : `${d.receipt.status} ${when}: ${d.receipt.error}`;
}

interface PairingView {
  channel: string;
  account: string;
  senderId: string;
  code: string;
  expiresAt: string;
}

const STATES = ['queued', 'sending', 'sent', 'failed', 'dead', 'ambiguous'];

function age(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

/** `pincer channels ...` and `pincer pairing ...`: chat accounts, the outbox, unknown senders. */
export function channelsCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  const channels = program.command('channels').description('chat platform accounts and their outbox (admin)');

  channels
    .command('list')
    .description('each account: transport, state, last poll age, events in, deliveries by state')
    .action(async () => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ accounts: AccountView[] }>('GET', '/v1/admin/channels');
      print(!!g.json, body, () =>
        body.accounts.length === 0
          ? 'no channel accounts are configured (channels: in pincer.config.yaml; see docs/channels.md)'
          : table([
              ['CHANNEL', 'ACCOUNT', 'TRANSPORT', 'STATE', 'LAST POLL', 'IN', 'QUEUED', 'AMBIGUOUS', 'DEAD', 'DETAIL'],
              ...body.accounts.map((a) => [
                a.channel,
                a.account,
                a.transport ?? '-',
                a.leader ? `${a.state} (leader)` : a.state,
                age(a.lastPollAgeMs),
                String(a.eventsIn),
                String((a.deliveries.queued ?? 0) + (a.deliveries.failed ?? 0) + (a.deliveries.sending ?? 0)),
                String(a.deliveries.ambiguous ?? 0),
                String(a.deliveries.dead ?? 0),
                [a.detail, a.hint].filter(Boolean).join(' - ').slice(0, 80),
              ]),
            ]),
      );
    });

  channels
    .command('deliveries')
    .description('outbox deliveries, newest first; --retry sends an ambiguous, dead or failed one again')
    .option('-s, --state <state>', `only this state (${STATES.join(', ')})`)
    .option('-c, --channel <id>', 'only this channel')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--retry <id>', 'retry this delivery instead of listing')
    .action(async (opts: { state?: string; channel?: string; limit: string; retry?: string }) => {
      const g = globals();
      const client = ApiClient.from(g);
      if (opts.retry) {
        const { body } = await client.call<{ delivery: DeliveryView }>('POST', `/v1/admin/channels/deliveries/${encodeURIComponent(opts.retry)}/retry`);
        return print(!!g.json, body, () => `delivery ${body.delivery.id} is ${body.delivery.state} again`);
      }
      if (opts.state && !STATES.includes(opts.state)) throw new PincerError('CLI_USAGE', `--state must be one of ${STATES.join(', ')}`);
      const query = new URLSearchParams({ limit: opts.limit, ...(opts.state ? { state: opts.state } : {}), ...(opts.channel ? { channel: opts.channel } : {}) });
      const { body } = await client.call<{ deliveries: DeliveryView[] }>('GET', `/v1/admin/channels/deliveries?${query.toString()}`);
      print(!!g.json, body, () =>
        body.deliveries.length === 0
          ? 'no deliveries'
          : table([
              ['ID', 'CHANNEL', 'CONVERSATION', 'STATE', 'ATTEMPTS', 'PARTS', 'CREATED', 'RECEIPT', 'ERROR'],
              ...body.deliveries.map((d) => [d.id, `${d.channel}/${d.account}`, d.lane, d.state, String(d.attempts), `${d.partsSent}/${d.parts ?? '?'}`, d.createdAt, receiptText(d).slice(0, 80), (d.lastError ?? '').slice(0, 60)]),
            ]),
      );
    });

  const pairing = program.command('pairing').description('approve or deny senders who asked to talk to the bot (admin)');

  pairing
    .command('list')
    .description('live pairing codes')
    .argument('[channel]', 'only this channel')
    .action(async (channel: string | undefined) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ requests: PairingView[] }>('GET', `/v1/admin/channels/pairing${channel ? `?channel=${encodeURIComponent(channel)}` : ''}`);
      print(!!g.json, body, () =>
        body.requests.length === 0
          ? 'no pairing requests'
          : table([['CHANNEL', 'ACCOUNT', 'SENDER', 'CODE', 'EXPIRES'], ...body.requests.map((r) => [r.channel, r.account, r.senderId, r.code, r.expiresAt])]),
      );
    });

  pairing
    .command('revoke')
    .description('take an approval back: the sender must pair again')
    .argument('<channel>', 'the channel id, e.g. telegram')
    .argument('<sender>', 'the platform user id (pincer pairing list showed it before approval)')
    .option('-a, --account <name>', 'the bot account', 'default')
    .action(async (channel: string, sender: string, opts: { account: string }) => {
      const g = globals();
      const { body } = await ApiClient.from(g).call<{ revoked: { channel: string; account: string; senderId: string } }>(
        'DELETE',
        `/v1/admin/channels/approvals/${encodeURIComponent(channel)}/${encodeURIComponent(opts.account)}/${encodeURIComponent(sender)}`,
      );
      print(!!g.json, body, () => `revoked: ${body.revoked.channel}/${body.revoked.account} sender ${body.revoked.senderId}`);
    });

  for (const action of ['approve', 'deny'] as const) {
    pairing
      .command(action)
      .description(action === 'approve' ? 'let the sender of this code write to the bot' : 'refuse this code')
      .argument('<channel>', 'the channel id, e.g. telegram')
      .argument('<code>', 'the code the sender was given')
      .action(async (channel: string, code: string) => {
        const g = globals();
        const { body } = await ApiClient.from(g).call<Record<string, PairingView>>('POST', `/v1/admin/channels/pairing/${encodeURIComponent(channel)}/${encodeURIComponent(code)}/${action}`);
        const done = body.approved ?? body.denied;
        print(!!g.json, body, () => `${action === 'approve' ? 'approved' : 'denied'}: ${done?.channel}/${done?.account} sender ${done?.senderId}`);
      });
  }
}
