import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PincerError } from '../../errors.js';
import { APPROVAL_STATES, type ApprovalRecord, type ApprovalState } from '../../store/types.js';
import type { ServerDeps } from '../deps.js';
import { ErrorSchema, object, string } from '../schemas.js';

const security = [{ bearer: [] }];
const anyObject = { type: 'object', additionalProperties: true };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const idParam = object({ id: string({ pattern: '^ap_[0-9a-f]{12}$' }) }, ['id']);

function approvalView(a: ApprovalRecord) {
  let args: unknown = a.arguments;
  try {
    args = JSON.parse(a.arguments);
  } catch {
    // Stored as the loop serialised it; shown as text if it ever is not JSON.
  }
  return {
    id: a.id,
    state: a.state,
    tool: a.tool,
    arguments: args,
    messageId: a.messageId,
    conversationId: a.conversationId,
    channel: a.channel,
    sender: a.sender,
    request: typeof a.request.text === 'string' ? a.request.text.slice(0, 500) : null,
    createdAt: iso(a.createdAt),
    expiresAt: iso(a.expiresAt),
    decidedAt: iso(a.decidedAt),
    decidedBy: a.decidedBy,
    continuationId: a.continuationId,
  };
}

/** Tool calls waiting for a person (docs/tools.md, Approvals): list, show, decide. */
export function adminApprovalRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const store = deps.store.agent;

  app.get(
    '/v1/admin/approvals',
    {
      schema: {
        tags: ['admin'],
        summary: 'Tool-call approvals, newest first, by state',
        security,
        querystring: object(
          { state: { enum: [...APPROVAL_STATES] }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 } },
          [],
          { additionalProperties: false },
        ),
        response: { 200: object({ approvals: { type: 'array', items: anyObject } }, ['approvals']), 400: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Querystring: { state?: ApprovalState; limit: number; offset: number } }>) => ({
      approvals: (await store.listApprovals(request.query)).map(approvalView),
    }),
  );

  app.get(
    '/v1/admin/approvals/:id',
    { schema: { tags: ['admin'], summary: 'One tool-call approval', security, params: idParam, response: { 200: object({ approval: anyObject }, ['approval']), 400: ErrorSchema, 404: ErrorSchema } } },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const approval = await store.getApproval(request.params.id);
      if (!approval) throw new PincerError('TOOL_APPROVAL_NOT_FOUND', `no approval ${request.params.id}`);
      return { approval: approvalView(approval) };
    },
  );

  app.post(
    '/v1/admin/approvals/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Approve or deny a waiting tool call: its continuation runs it (if approved) and replies in its conversation',
        security,
        params: idParam,
        body: object({ decision: { enum: ['approve', 'deny'] }, by: string({ minLength: 1, maxLength: 128 }) }, ['decision'], { additionalProperties: false }),
        response: { 200: object({ approval: anyObject }, ['approval']), 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { decision: 'approve' | 'deny'; by?: string } }>) => {
      const decision = request.body.decision === 'approve' ? 'approved' : 'denied';
      const approval = await deps.approvals.decide(request.params.id, decision, `admin${request.body.by ? `:${request.body.by}` : ''}`);
      return { approval: approvalView(approval) };
    },
  );
}
