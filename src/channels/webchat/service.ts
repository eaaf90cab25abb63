import type { Logger } from 'pino';
import type { ChannelsConfig } from '../../config/channels.js';
import { PincerError } from '../../errors.js';
import type { MessageRecord, MessageState, MessageStore } from '../../store/types.js';
import type { ResolvedAccount } from '../accounts.js';
import { conversationIdOf } from '../ids.js';
import type { ChannelIngress } from '../ingress.js';
import { webchatSettings, WEBCHAT, type WebchatSettings } from './config.js';
import { visitorEvent } from './inbound.js';
import { originAllowed } from './origins.js';
import { VisitorRateLimiter } from './rate.js';
import { sessionSecret } from './secret.js';
import { newVisitorId, signSession, verifySession, type SessionClaims } from './tokens.js';

export interface WebchatDeps {
  channels: ChannelsConfig;
  /** The channel runtime's receive path and accounts: the web chat shares both with every channel. */
  runtime: { readonly ingress: Pick<ChannelIngress, 'ingest'>; account(channel: string, id: string): ResolvedAccount | undefined };
  messages: Pick<MessageStore, 'get' | 'latest'>;
  dataDir: string;
  /** The store is shared by several nodes (PostgreSQL). */
  sharedStore: boolean;
  log: Logger;
  now?: () => number;
}

export interface WebchatAccount {
  id: string;
  resolved: ResolvedAccount;
  settings: WebchatSettings;
  secret: string;
}

export interface Session {
  token: string;
  conversationId: string;
  expiresAt: string;
  title: string;
  greeting: string | null;
}

export interface Accepted {
  id: string;
  conversationId: string;
  status: MessageState;
  duplicate: boolean;
}

/** Thrown past a visitor's rate; the route sends its wait as Retry-After. */
export class WebchatRateLimited extends PincerError {
  constructor(readonly retryAfterSeconds: number) {
    super('WEBCHAT_RATE_LIMITED', `too many messages: this chat takes the next one in ${retryAfterSeconds} s`);
  }
}

/**
 * The public web chat, built into core rather than a plugin: the visitor's browser is the
 * "platform", and it pulls replies (the message's event stream, the conversation) instead of
 * having them pushed through the outbox, so there is no adapter to run and no delivery to make
 * (the turns and the delivery worker find no channel plugin for "webchat" and plan none).
 * Everything else is a channel's: one ingress, the same access policy, the same history.
 */
export class Webchat {
  private readonly accounts = new Map<string, WebchatAccount>();
  private readonly rates: VisitorRateLimiter;
  private readonly now: () => number;

  constructor(private readonly deps: WebchatDeps) {
    this.now = deps.now ?? Date.now;
    this.rates = new VisitorRateLimiter(this.now);
    const section = deps.channels[WEBCHAT] as { accounts?: Record<string, unknown> } | undefined;
    for (const id of Object.keys(section?.accounts ?? {})) {
      const resolved = deps.runtime.account(WEBCHAT, id);
      if (!resolved) continue;
      const settings = webchatSettings(resolved.account.config);
      const secret = sessionSecret({ configured: settings.session_secret, account: id, dataDir: deps.dataDir, shared: deps.sharedStore, log: deps.log });
      // Pairing is refused in config; the web chat's own default (open) replaces the channels' one.
      const policy = { ...resolved.policy, dmPolicy: settings.dm_policy, allowFrom: settings.allow_from };
      this.accounts.set(id, { id, resolved: { ...resolved, policy }, settings, secret });
      if (settings.allowed_origins.includes('*')) {
        deps.log.warn({ event: 'webchat.any_origin', account: id }, `web chat "${id}": allowed_origins has "*", so any website can embed this chat; use it for testing, and list your sites' origins in production`);
      }
    }
  }

  /** Whether any account is configured (the routes answer WEBCHAT_DISABLED otherwise). */
  get configured(): boolean {
    return this.accounts.size > 0;
  }

  /** An enabled account, or WEBCHAT_DISABLED. */
  account(id: string): WebchatAccount {
    const account = this.accounts.get(id);
    if (!account || !account.resolved.enabled) throw new PincerError('WEBCHAT_DISABLED', `the web chat has no enabled account "${id}" (channels.webchat.accounts)`);
    return account;
  }

  /** The account of a route, if it exists and this origin may use it (for CORS). */
  allows(id: string, origin: string | undefined): boolean {
    const account = this.accounts.get(id);
    return account !== undefined && account.resolved.enabled && originAllowed(account.settings.allowed_origins, origin);
  }

  /** A page's origin may use the account, or WEBCHAT_ORIGIN_REFUSED. */
  checkOrigin(account: WebchatAccount, origin: string | undefined): void {
    if (originAllowed(account.settings.allowed_origins, origin)) return;
    throw new PincerError(
      'WEBCHAT_ORIGIN_REFUSED',
      origin ? `the web chat "${account.id}" is not offered to pages of ${origin} (channels.webchat.accounts.${account.id}.allowed_origins)` : 'a web chat session is opened from a web page: the request has no Origin header',
    );
  }

  /**
   * A session for a page of an allowed origin. A still-valid token of an earlier session keeps
   * its visitor (and so its conversation) and is renewed; anything else (none, expired, forged,
   * another account's) starts a new visitor, which is what a page without a usable token needs.
   */
  openSession(account: WebchatAccount, origin: string | undefined, previous: string | undefined): Session {
    this.checkOrigin(account, origin);
    const now = this.now();
    const earlier = previous === undefined ? undefined : verifySession(account.secret, previous, now);
    const visitor = earlier?.ok && earlier.claims.account === account.id ? earlier.claims.visitor : newVisitorId();
    const exp = Math.floor((now + account.settings.session_ttl) / 1000);
    return {
      token: signSession(account.secret, { account: account.id, visitor, exp }),
      conversationId: this.conversationOf(account, visitor),
      expiresAt: new Date(exp * 1000).toISOString(),
      title: account.settings.title,
      greeting: account.settings.greeting ?? null,
    };
  }

  /** The session an `Authorization: Bearer <token>` header names, for this account. */
  authenticate(account: WebchatAccount, authorization: string | undefined): SessionClaims {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new PincerError('WEBCHAT_SESSION_INVALID', 'missing session token: send "Authorization: Bearer <token>" with the token POST /v1/webchat/<account>/sessions gave');
    const check = verifySession(account.secret, token, this.now());
    if (!check.ok) {
      const why = check.reason === 'expired' ? 'has expired; open a new session' : check.reason === 'signature' ? 'is not signed by this bot' : 'is malformed';
      throw new PincerError('WEBCHAT_SESSION_INVALID', `the session token ${why}`);
    }
    if (check.claims.account !== account.id) throw new PincerError('WEBCHAT_FORBIDDEN', `this session belongs to the web chat "${check.claims.account}", not "${account.id}"`);
    return check.claims;
  }

  conversationOf(account: WebchatAccount, visitor: string): string {
    return conversationIdOf(WEBCHAT, account.id, { id: visitor });
  }

  /** A visitor's message, committed through the channels' ingress (so the same policy decides). */
  async send(account: WebchatAccount, claims: SessionClaims, text: string, idempotencyKey: string | undefined, timeZone?: string): Promise<Accepted> {
    const wait = this.rates.take(account.id, claims.visitor, account.settings.rate);
    if (wait > 0) throw new WebchatRateLimited(Math.ceil(wait / 1000));
    const event = visitorEvent({ visitor: claims.visitor, text, idempotencyKey, timeZone, now: this.now() });
    const [result] = await this.deps.runtime.ingress.ingest(account.resolved, [event]);
    if (result?.disposition === 'drop') {
      throw new PincerError('WEBCHAT_FORBIDDEN', `this chat does not answer this visitor (channels.webchat.accounts.${account.id}.dm_policy is ${account.settings.dm_policy})`);
    }
    if (!result?.messageId) throw new PincerError('VALIDATION_ERROR', 'the message could not be stored (empty, or refused by the store)');
    const record = await this.deps.messages.get(result.messageId);
    return { id: result.messageId, conversationId: this.conversationOf(account, claims.visitor), status: record?.state ?? 'queued', duplicate: result.duplicate === true };
  }

  /**
   * A message of the session's own conversation, or WEBCHAT_FORBIDDEN: a message that does not
   * exist is refused the same way, so ids cannot be probed.
   */
  async ownMessage(account: WebchatAccount, claims: SessionClaims, id: string): Promise<MessageRecord> {
    const record = await this.deps.messages.get(id);
    if (!record || record.conversationId !== this.conversationOf(account, claims.visitor)) {
      throw new PincerError('WEBCHAT_FORBIDDEN', `message ${id} is not one of this session's messages`);
    }
    return record;
  }

  /** The newest `limit` messages of the session's conversation, oldest first. */
  history(account: WebchatAccount, claims: SessionClaims, limit: number): Promise<MessageRecord[]> {
    return this.deps.messages.latest(this.conversationOf(account, claims.visitor), limit);
  }
}
