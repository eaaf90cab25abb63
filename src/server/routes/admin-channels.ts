import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import { DELIVERY_STATES, type DeliveryRecord, type DeliveryState, type PairingRequest } from '../../store/types.js';
import type { ServerDeps } from '../deps.js';
import { ErrorSchema, object, string } from '../schemas.js';

const security = [{ bearer: [] }];
const anyObject = { type: 'object', additionalProperties: true };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function deliveryView(d: DeliveryRecord) {
  const parts = Array.isArray(d.plan?.parts) ? d.plan.parts.length : null;
  return {
    id: d.id,
    messageId: d.messageId,
    channel: d.channel,
    account: d.account,
    lane: d.lane,
    state: d.state,
    attempts: d.attempts,
    rateLimited: d.rateLimited,
    parts,
    partsSent: d.nextPart,
    receipts: d.receipts,
    lastError: d.lastError,
    errorClass: d.errorClass,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    availableAt: iso(d.availableAt),
    sentAt: iso(d.sentAt),
    // The platform's own word (WhatsApp statuses): how far it got, when, and why it failed.
    receipt: d.receipt === null ? null : { status: d.receipt.status, at: iso(d.receipt.at), error: d.receipt.error },
    text: typeof d.body.markdown === 'string' ? d.body.markdown.slice(0, 200) : null,
  };
}

function pairingView(p: PairingRequest) {
  return { channel: p.channel, account: p.account, senderId: p.senderId, code: p.code, createdAt: iso(p.createdAt), expiresAt: iso(p.expiresAt) };
}

/** Each account's transport state and its outbox by state: the admin list, and the dashboard's table (in /v1/stats). */
export async function accountViews(deps: Pick<ServerDeps, 'channels' | 'store'>) {
  const accounts = deps.channels.list();
  // /v1/stats asks every dashboard refresh: a bot without chat accounts pays no outbox scan.
  if (accounts.length === 0) return [];
  const counts = await deps.store.channels.deliveryCounts();
  const now = Date.now();
  return accounts.map((s) => {
    const deliveries: Record<string, number> = Object.fromEntries(DELIVERY_STATES.map((state) => [state, 0]));
    for (const c of counts) if (c.channel === s.channel && c.account === s.account) deliveries[c.state] = c.count;
    return { ...s, lastPollAgeMs: s.lastPollAt === null ? null : now - s.lastPollAt, lastPollAt: iso(s.lastPollAt), deliveries };
  });
}

interface DeliveriesQuery {
  state?: DeliveryState;
  channel?: string;
  limit: number;
  offset: number;
}

/** Operators' view of channels: accounts and their transports, the outbox, pairing requests. */
export function adminChannelRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const store = deps.store.channels;

  app.get(
    '/v1/admin/channels',
    { schema: { tags: ['admin'], summary: 'Chat accounts: transport, state, last poll age, events in, deliveries by state', security, response: { 200: object({ accounts: { type: 'array', items: anyObject } }, ['accounts']) } } },
    async () => ({ accounts: await accountViews(deps) }),
  );

  app.get(
    '/v1/admin/channels/deliveries',
    {
      schema: {
        tags: ['admin'],
        summary: 'Outbox deliveries, newest first, by state (ambiguous ones wait for an operator)',
        security,
        querystring: object(
          {
            state: { enum: [...DELIVERY_STATES] },
            channel: string({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }),
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
          [],
          { additionalProperties: false },
        ),
        response: { 200: object({ deliveries: { type: 'array', items: anyObject } }, ['deliveries']), 400: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Querystring: DeliveriesQuery }>) => ({ deliveries: (await store.listDeliveries(request.query)).map(deliveryView) }),
  );

  app.post(
    '/v1/admin/channels/deliveries/:id/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Send an ambiguous, dead or failed delivery again (parts already sent are not resent)',
        security,
        params: object({ id: string({ minLength: 1, maxLength: 64 }) }, ['id']),
        response: { 200: anyObject, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const found = await store.getDelivery(request.params.id);
      if (!found) throw new PincerError('DELIVERY_NOT_FOUND', `no delivery ${request.params.id}`);
      if (!(await store.retryDelivery(found.id))) throw new PincerError('DELIVERY_NOT_RETRYABLE', `delivery ${found.id} is ${found.state}; only ambiguous, dead or failed deliveries can be retried`);
      deps.channels.wakeDeliveries();
      return { delivery: deliveryView((await store.getDelivery(found.id)) ?? found) };
    },
  );

  app.get(
    '/v1/admin/channels/pairing',
    {
      schema: {
        tags: ['admin'],
        summary: 'Live pairing requests (unknown senders waiting for approval)',
        security,
        querystring: object({ channel: string({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }) }, [], { additionalProperties: false }),
        response: { 200: object({ requests: { type: 'array', items: anyObject } }, ['requests']) },
      },
    },
    async (request: FastifyRequest<{ Querystring: { channel?: string } }>) => ({ requests: (await store.listPairings(request.query.channel)).map(pairingView) }),
  );

  app.delete(
    '/v1/admin/channels/approvals/:channel/:account/:sender',
    {
      schema: {
        tags: ['admin'],
        summary: 'Take a pairing approval back: the sender must pair again before the bot answers',
        security,
        params: object({ channel: string({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), account: string({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }), sender: string({ minLength: 1, maxLength: 256 }) }, ['channel', 'account', 'sender']),
        response: { 200: anyObject, 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { channel: string; account: string; sender: string } }>) => {
      const { channel, account, sender } = request.params;
      if (!(await store.revokeApproval(channel, account, sender))) throw new PincerError('APPROVAL_NOT_FOUND', `sender ${sender} of ${channel}/${account} was not approved`);
      return { revoked: { channel, account, senderId: sender } };
    },
  );

  for (const action of ['approve', 'deny'] as const) {
    app.post(
      `/v1/admin/channels/pairing/:channel/:code/${action}`,
      {
        schema: {
          tags: ['admin'],
          summary: action === 'approve' ? 'Approve a pairing code: its sender may write to the bot from now on' : 'Refuse a pairing code',
          security,
          params: object({ channel: string({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), code: string({ minLength: 1, maxLength: 16 }) }, ['channel', 'code']),
          response: { 200: anyObject, 404: ErrorSchema },
        },
      },
      async (request: FastifyRequest<{ Params: { channel: string; code: string } }>) => {
        const { channel, code } = request.params;
        const done = action === 'approve' ? await store.approvePairing(channel, code.toUpperCase(), 'admin-api') : await store.denyPairing(channel, code.toUpperCase());
        if (!done) throw new PincerError('PAIRING_NOT_FOUND', `no live pairing request ${code} on channel ${channel} (pincer pairing list)`);
        return { [action === 'approve' ? 'approved' : 'denied']: pairingView(done) };
      },
    );
  }
}
