import { Counter, Histogram, type Registry } from 'prom-client';
import type { DeliveryOutcome } from './outbox/outcome.js';

/** What channels count, on the Pincer instance's own registry (names in docs/operations.md). */
export class ChannelMetrics {
  readonly events: Counter<'channel' | 'disposition'>;
  readonly deliveries: Counter<'channel' | 'outcome'>;
  readonly rateLimited: Counter<'channel'>;
  readonly latency: Histogram<'channel'>;
  readonly previews: Counter<'channel' | 'outcome'>;
  readonly receipts: Counter<'channel' | 'status' | 'match'>;

  constructor(registry: Registry) {
    this.events = new Counter({ name: 'pincer_channel_events_total', help: 'Inbound platform events by what core did with them (answer, record, pair, drop_<reason>, duplicate, invalid)', labelNames: ['channel', 'disposition'], registers: [registry] });
    this.deliveries = new Counter({ name: 'pincer_channel_deliveries_total', help: 'Outbox delivery attempts by outcome (sent, retry, rate_limited, dead, ambiguous, released)', labelNames: ['channel', 'outcome'], registers: [registry] });
    this.rateLimited = new Counter({ name: 'pincer_channel_rate_limited_total', help: 'Platform 429 answers and scheduler waits that delayed a delivery', labelNames: ['channel'], registers: [registry] });
    this.latency = new Histogram({ name: 'pincer_channel_delivery_latency_seconds', help: 'From a delivery being queued to its last part being accepted by the platform', labelNames: ['channel'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [registry] });
    this.receipts = new Counter({ name: 'pincer_channel_receipts_total', help: "Platform statuses of the bot's messages (sent, delivered, read, failed) by what they matched: recorded on a delivery, resolved (proved an ambiguous or in-flight part arrived), unknown (no delivery of the account), invalid", labelNames: ['channel', 'status', 'match'], registers: [registry] });
    this.previews = new Counter({ name: 'pincer_channel_preview_edits_total', help: 'Streaming preview sends and edits by outcome (sent, edited, skipped, failed, suspended)', labelNames: ['channel', 'outcome'], registers: [registry] });
  }

  delivery(channel: string, outcome: DeliveryOutcome): void {
    this.deliveries.inc({ channel, outcome });
  }
}
