import { TERMINAL_STATES, type MessageEvent, type MessageEventBus } from '../../events/types.js';

/** An attempt this node never finished (its lease moved elsewhere) is forgotten after this long. */
const MAX_AGE_MS = 15 * 60_000;
const SWEEP_AT = 1_000;

interface Flight {
  attempt: number | undefined;
  text: string;
  since: number;
}

/**
 * The text this node's workers have streamed so far for each reply under way. A visitor opens
 * a reply's event stream only after its POST is answered, by when the worker may have streamed
 * the first tokens: events are live, so without this the stream would begin mid-sentence. A
 * watcher on another node gets the text so far from the PostgreSQL event bus itself; this
 * covers the node that does the work. Entries end with their message (bounded by the workers).
 */
export class StreamedSoFar {
  private readonly flights = new Map<string, Flight>();
  private readonly dispose: () => void;

  constructor(events: Pick<MessageEventBus, 'subscribeLocal'>, private readonly now: () => number = Date.now) {
    this.dispose = events.subscribeLocal((event) => this.seen(event));
  }

  /** The text so far of a reply this node is streaming, and its attempt. */
  get(id: string): { attempt: number | undefined; text: string } | undefined {
    const flight = this.flights.get(id);
    return flight && flight.text ? { attempt: flight.attempt, text: flight.text } : undefined;
  }

  close(): void {
    this.dispose();
    this.flights.clear();
  }

  private seen(event: MessageEvent): void {
    if (event.type === 'token') {
      let flight = this.flights.get(event.id);
      // A retry streams its reply from the start.
      if (flight && flight.attempt !== event.attempt) flight = undefined;
      if (!flight) {
        if (this.flights.size >= SWEEP_AT) this.sweep();
        flight = { attempt: event.attempt, text: '', since: this.now() };
        this.flights.set(event.id, flight);
      }
      flight.text += event.delta;
    } else if (event.type === 'status' && (TERMINAL_STATES.has(event.status) || event.status === 'failed' || event.status === 'processing')) {
      this.flights.delete(event.id);
    }
  }

  private sweep(): void {
    const cutoff = this.now() - MAX_AGE_MS;
    for (const [id, flight] of this.flights) if (flight.since < cutoff) this.flights.delete(id);
  }
}
