/**
 * Interactions for the Discord fake, from Discord's "Receiving and Responding" docs: global
 * application commands (`GET`/`PUT /applications/{id}/commands`, checked by
 * discord-validate.ts, 200 new names a day), INTERACTION_CREATE over the gateway for a slash
 * command or a button press, the interaction callback (`POST /interactions/{id}/{token}/callback`,
 * no Authorization: one answer, within 3 s of the interaction, else 404 10062; a second
 * answer is 400 40060), and the interaction webhook's `PATCH
 * /webhooks/{application}/{token}/messages/{@original|id}` (15 minutes, else 401 50027).
 * A deferred answer (type 5) posts the "thinking…" message (flag LOADING) that @original edits.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DiscordCall, DiscordFault, FakeChannel, FakeDiscordMessage, FakeDiscordUser } from './discord.js';
import { commandsError, componentsError, nested } from './discord-validate.js';

export const ACK_WINDOW_MS = 3_000;
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** Message flag: an interaction's deferred response that is still "thinking". */
export const LOADING = 1 << 7;

export interface InteractionsHost {
  readonly applicationId: string;
  readonly bot: FakeDiscordUser;
  readonly calls: DiscordCall[];
  readonly messages: Map<string, FakeDiscordMessage[]>;
  nextId(at?: number): string;
  authorized(request: FastifyRequest): boolean;
  storeMessage(channel: FakeChannel, author: FakeDiscordUser, content: string, extra?: Partial<FakeDiscordMessage>): FakeDiscordMessage;
  dispatch(t: string, d: Record<string, unknown>): void;
}

export interface FakeCommand {
  id: string;
  application_id: string;
  version: string;
  type: number;
  name: string;
  description: string;
  options?: unknown[];
  default_member_permissions: null;
  nsfw: boolean;
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: 2 | 3;
  channel: FakeChannel;
  user: FakeDiscordUser;
  createdAt: number;
  /** The one answer Discord took. */
  callback?: { type: number; at: number };
  /** What @original names: the deferred response, or the message a button was on. */
  original?: FakeDiscordMessage;
}

interface Answer {
  status: number;
  body?: unknown;
}

const refusal = (status: number, code: number, message: string, errors?: Record<string, unknown>): Answer => ({ status, body: { message, code, ...(errors ? { errors } : {}) } });

export class DiscordInteractionsFake {
  readonly commands: FakeCommand[] = [];
  readonly interactions = new Map<string, FakeInteraction>();
  /** New command names Discord counted today; past `createLimit` a PUT is refused (30034). */
  creates = 0;
  createLimit = 200;
  /** Tokens longer than Discord's usual ~214 characters (Discord documents no length). */
  longTokens = false;
  /** Faults for the interaction webhook (PATCH @original and message edits). */
  private readonly faults: DiscordFault[] = [];

  constructor(private readonly host: InteractionsHost) {}

  fault(fault: DiscordFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  routes(app: FastifyInstance): void {
    app.get('/api/v10/applications/:app/commands', (request, reply) => this.answer(request, reply, () => this.ownApp(request) ?? { status: 200, body: this.commands }));
    app.put('/api/v10/applications/:app/commands', (request, reply) => this.answer(request, reply, () => this.ownApp(request) ?? this.overwrite(request.body)));
    app.post('/api/v10/interactions/:id/:token/callback', (request, reply) => this.answer(request, reply, () => this.callback(request)));
    app.patch('/api/v10/webhooks/:app/:token/messages/:mid', (request, reply) => this.answer(request, reply, () => this.editOriginal(request), true));
  }

  /** A user runs `/name text` (a registered command) in a channel; `at` backdates it. */
  slash(channel: FakeChannel, user: FakeDiscordUser, name: string, text?: string, at?: number): FakeInteraction {
    const command = this.commands.find((c) => c.name === name);
    if (!command) throw new Error(`no slash command /${name} is registered (${this.commands.map((c) => c.name).join(', ')})`);
    const data = { id: command.id, name, type: 1, ...(text !== undefined ? { options: [{ name: 'text', type: 3, value: text }] } : {}) };
    return this.create(2, channel, user, data, undefined, at);
  }

  /** A user presses the button `customId` of a message (it must have one). */
  press(channel: FakeChannel, user: FakeDiscordUser, message: FakeDiscordMessage, customId: string, at?: number): FakeInteraction {
    const rows = (message.components ?? []) as Array<{ components?: Array<{ custom_id?: string }> }>;
    if (!rows.some((row) => row.components?.some((b) => b.custom_id === customId))) throw new Error(`message ${message.id} has no button ${customId}`);
    return this.create(3, channel, user, { custom_id: customId, component_type: 2 }, message, at);
  }

  private create(type: 2 | 3, channel: FakeChannel, user: FakeDiscordUser, data: Record<string, unknown>, message: FakeDiscordMessage | undefined, at?: number): FakeInteraction {
    const createdAt = at ?? Date.now();
    const id = this.host.nextId(at);
    // Discord's tokens are base64 of "interaction:<id>:<secret>", about 214 characters.
    const secret = randomBytes(this.longTokens ? 192 : 96).toString('base64url').slice(0, this.longTokens ? 256 : 128);
    const token = Buffer.from(`interaction:${id}:${secret}`).toString('base64url');
    const interaction: FakeInteraction = { id, token, type, channel, user, createdAt, ...(message ? { original: message } : {}) };
    this.interactions.set(id, interaction);
    const guild = channel.guild_id;
    this.host.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.host.applicationId,
      type,
      token,
      version: 1,
      data,
      channel_id: channel.id,
      channel: { id: channel.id, type: channel.type },
      ...(guild !== undefined
        ? { guild_id: guild, member: { user, roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0, permissions: '2248473465835073' } }
        : { user }),
      ...(message ? { message } : {}),
      locale: 'en-US',
      app_permissions: '2248473465835073',
      entitlements: [],
      authorizing_integration_owners: guild !== undefined ? { '0': guild } : { '1': user.id },
      context: guild !== undefined ? 0 : 1,
    });
    return interaction;
  }

  private ownApp(request: FastifyRequest): Answer | undefined {
    return (request.params as { app: string }).app === this.host.applicationId ? undefined : refusal(403, 50001, 'Missing Access');
  }

  private overwrite(body: unknown): Answer {
    const problem = commandsError(body);
    if (problem) return refusal(400, 50035, 'Invalid Form Body', nested(problem));
    const list = body as Array<Record<string, unknown>>;
    const fresh = list.filter((c) => !this.commands.some((known) => known.name === c['name'])).length;
    if (this.creates + fresh > this.createLimit) return refusal(429, 30034, `Max number of daily application command creates has been reached (${this.createLimit})`);
    this.creates += fresh;
    const next = list.map((c): FakeCommand => {
      const known = this.commands.find((k) => k.name === c['name']);
      return {
        id: known?.id ?? this.host.nextId(),
        application_id: this.host.applicationId,
        version: this.host.nextId(),
        type: 1,
        name: String(c['name']),
        description: String(c['description']),
        ...(Array.isArray(c['options']) && c['options'].length > 0 ? { options: c['options'].map((o: Record<string, unknown>) => ({ required: false, ...o })) } : {}),
        default_member_permissions: null,
        nsfw: false,
      };
    });
    this.commands.splice(0, this.commands.length, ...next);
    return { status: 200, body: this.commands };
  }

  private callback(request: FastifyRequest): Answer {
    const { id, token } = request.params as { id: string; token: string };
    const interaction = this.interactions.get(id);
    if (!interaction || interaction.token !== token || Date.now() - interaction.createdAt > ACK_WINDOW_MS) return refusal(404, 10062, 'Unknown interaction');
    if (interaction.callback) return refusal(400, 40060, 'Interaction has already been acknowledged.');
    const type = (request.body as { type?: unknown } | undefined)?.type;
    const allowed = interaction.type === 2 ? [4, 5, 9] : [4, 5, 6, 7, 9];
    if (typeof type !== 'number' || !allowed.includes(type)) return refusal(400, 50035, 'Invalid Form Body', nested({ path: ['type'], code: 'BASE_TYPE_CHOICES', message: `Value must be one of {${allowed.join(', ')}}.` }));
    interaction.callback = { type, at: Date.now() };
    if (type === 5) {
      const metadata = { id, type: interaction.type, user: interaction.user, authorizing_integration_owners: {} };
      interaction.original = this.host.storeMessage(interaction.channel, this.host.bot, '', { type: interaction.type === 2 ? 20 : 0, flags: LOADING, interaction_metadata: metadata, webhook_id: this.host.applicationId });
      this.host.dispatch('MESSAGE_CREATE', { ...interaction.original });
    }
    return { status: 204 };
  }

  private editOriginal(request: FastifyRequest): Answer {
    const { app, token, mid } = request.params as { app: string; token: string; mid: string };
    if (app !== this.host.applicationId) return refusal(404, 10015, 'Unknown Webhook');
    const interaction = [...this.interactions.values()].find((i) => i.token === token);
    if (!interaction || Date.now() - interaction.createdAt > TOKEN_LIFETIME_MS) return refusal(401, 50027, 'Invalid Webhook Token');
    const message = interaction.callback !== undefined && (mid === '@original' || mid === interaction.original?.id) ? interaction.original : undefined;
    if (!message) return refusal(404, 10008, 'Unknown Message');
    const body = (request.body ?? {}) as { content?: unknown; components?: unknown };
    if (body.content !== undefined && (typeof body.content !== 'string' || body.content.length > 2000)) return refusal(400, 50035, 'Invalid Form Body', nested({ path: ['content'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }));
    const problem = componentsError(body.components);
    if (problem) return refusal(400, 50035, 'Invalid Form Body', nested(problem));
    if (typeof body.content === 'string') message.content = body.content;
    if (Array.isArray(body.components)) message.components = body.components;
    message.flags = (message.flags ?? 0) & ~LOADING;
    message.edited_timestamp = new Date().toISOString();
    this.host.dispatch('MESSAGE_UPDATE', { ...message });
    return { status: 200, body: message };
  }

  private async answer(request: FastifyRequest, reply: FastifyReply, run: () => Answer, faulty = false): Promise<FastifyReply> {
    const record: DiscordCall = { method: request.method, path: request.url, body: request.body as Record<string, unknown> | undefined, status: 0 };
    this.host.calls.push(record);
    // Commands need the bot token; the callback and the webhook are authorized by theirs.
    if (request.url.startsWith('/api/v10/applications/') && !this.host.authorized(request)) return this.sent(record, reply, refusal(401, 0, '401: Unauthorized'));
    const fault = faulty ? this.faults.shift() : undefined;
    if (fault?.kind === 'reset') return this.cut(record, reply, 0);
    if (fault?.kind === 'status') return this.sent(record, reply, refusal(fault.status, fault.code ?? 0, fault.message ?? 'Internal Server Error'));
    if (fault?.kind === 'rate_limit') {
      reply.header('retry-after', String(Math.ceil(fault.retryAfter)));
      return this.sent(record, reply, { status: 429, body: { message: 'You are being rate limited.', retry_after: fault.retryAfter, global: false } });
    }
    const answer = run();
    if (fault?.kind === 'drop') return this.cut(record, reply, answer.status);
    return this.sent(record, reply, answer);
  }

  private sent(record: DiscordCall, reply: FastifyReply, answer: Answer): FastifyReply {
    record.status = answer.status;
    return answer.body === undefined ? reply.code(answer.status).send() : reply.code(answer.status).send(answer.body);
  }

  private cut(record: DiscordCall, reply: FastifyReply, status: number): FastifyReply {
    record.status = status;
    reply.hijack();
    reply.raw.socket?.destroy();
    return reply;
  }
}
