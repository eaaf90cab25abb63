/**
 * The conformance suite's driver for WhatsApp: users write through the Cloud API fake's signed
 * webhook calls to Pincer (one attempt each, so the suite sees what Pincer answered), and read
 * what the fake's Graph API accepted for them. A send whose answer was lost is resolved by the
 * status webhooks the fake (like Meta) sends for every message it accepted: they echo the
 * part's id, which proves the send arrived, so nothing is sent twice ('reconciled').
 */
import type { JsonObject } from '../../src/json.js';
import { WhatsAppFake } from '../support/fakes/whatsapp.js';
import type { ChannelDriver, FaultKind, Inbound } from './drivers.js';

const VERIFY_TOKEN = 'verify-token-for-tests';

export class WhatsAppDriver implements ChannelDriver {
  readonly channel = 'whatsapp';
  readonly textLimit = 4096;
  readonly ambiguous = 'reconciled' as const;
  readonly serverError = 'ambiguous' as const;
  readonly fake: WhatsAppFake;

  constructor(fake = new WhatsAppFake()) {
    this.fake = fake;
  }

  async start(): Promise<void> {
    await this.fake.start();
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }

  channels(policy: JsonObject): JsonObject {
    const account = { phone_number_id: this.fake.phoneNumberId, access_token: this.fake.accessToken, app_secret: this.fake.appSecret, verify_token: VERIFY_TOKEN, ...policy };
    return { whatsapp: { graph_api_root: this.fake.url, transport: 'webhook', accounts: { default: account } } };
  }

  attach(url: string): void {
    this.fake.webhookUrl = `${url}/v1/channels/whatsapp/default/webhook`;
  }

  user(n: number): string {
    const id = String(4915100000000 + n);
    this.fake.user(id, `User${n}`);
    return id;
  }

  async say(user: string, text: string): Promise<Inbound> {
    const { payload } = this.fake.text(user, text);
    return this.post(JSON.stringify(payload));
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    return this.post(inbound.key);
  }

  private async post(body: string): Promise<Inbound> {
    const status = await this.fake.webhook.post(this.fake.webhookUrl, body);
    return { key: body, ...(typeof status === 'number' && { status }) };
  }

  acked(inbound: Inbound): boolean {
    return inbound.status !== undefined && inbound.status >= 200 && inbound.status < 300;
  }

  replies(user: string): string[] {
    return this.fake.sent(user).map((m) => m.text);
  }

  sendCalls(user: string): number {
    return this.fake.calls.filter((c) => c.to === user).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault =
      kind === 'rate_limit'
        ? { kind: 'error' as const, status: 429, code: 130429, message: '(#130429) Rate limit hit', retryAfter: 2 }
        : kind === 'server_error'
          ? { kind: 'error' as const, status: 500, code: 131000, message: 'Something went wrong' }
          : kind === 'permanent'
            ? { kind: 'error' as const, status: 400, code: 131026, message: 'Message Undeliverable.' }
            : { kind: 'drop' as const };
    this.fake.fault(fault, times);
  }

  conversationId(user: string): string {
    return `whatsapp:default:${user}`;
  }
}
