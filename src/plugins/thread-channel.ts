/**
 * A channel plugin's side of `ctx.channel(spec)`, in its thread: the spec is checked once, and
 * every host call (plan, send, poll, ...) is dispatched by method name. A send's failure comes
 * back as data (its class and retry time), because only the adapter can say what a platform
 * error means; anything it did not classify counts as ambiguous, the fail-closed answer.
 */
import type { CallOutcome, ChannelMethod, RegistrationSpec } from './protocol.js';
import type { ChannelAccount, ChannelErrorClass, ChannelSpec, ChannelTarget, InboundEvent, JsonValue, RenderedPart, ReplyButton, WebhookRequest } from './sdk.js';
import type { HostCalls } from './thread-calls.js';

const ERROR_CLASSES: ReadonlySet<string> = new Set<ChannelErrorClass>(['rate_limited', 'transient', 'permanent', 'ambiguous', 'unparsable']);
const ID = /^[a-z][a-z0-9_-]{0,31}$/;

type Handler = (input: JsonValue, signal: AbortSignal, id: number, method?: string) => unknown;

export function outcomeOf(err: unknown): CallOutcome {
  const e = err as { code?: unknown; errorClass?: unknown; retryAfterMs?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (e && e.code === 'CHANNEL_ERROR' && typeof e.errorClass === 'string' && ERROR_CLASSES.has(e.errorClass)) {
    const retryAfterMs = typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0 ? e.retryAfterMs : undefined;
    return { ok: false, errorClass: e.errorClass as ChannelErrorClass, message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  return { ok: false, errorClass: 'ambiguous', message: `unclassified error from the channel: ${message}` };
}

function checkSpec(spec: ChannelSpec): void {
  if (!spec || typeof spec !== 'object') throw new TypeError('a channel needs a spec object');
  if (typeof spec.id !== 'string' || !ID.test(spec.id)) throw new TypeError(`channel id "${String(spec.id)}" must be 1-32 lower-case letters, digits, "-" or "_", starting with a letter`);
  for (const fn of ['plan', 'send'] as const) if (typeof spec[fn] !== 'function') throw new TypeError(`channel "${spec.id}" needs a ${fn} function`);
  const caps = spec.capabilities;
  if (!caps || typeof caps !== 'object') throw new TypeError(`channel "${spec.id}" needs capabilities`);
  if (!Number.isInteger(caps.textLimit) || caps.textLimit < 16) throw new TypeError(`channel "${spec.id}": capabilities.textLimit must be an integer of at least 16`);
  if (caps.idempotentSend !== 'native' && caps.idempotentSend !== 'reconcile' && caps.idempotentSend !== 'none') throw new TypeError(`channel "${spec.id}": capabilities.idempotentSend must be "native", "reconcile" or "none"`);
  if (caps.idempotentSend === 'reconcile' && typeof spec.reconcile !== 'function') throw new TypeError(`channel "${spec.id}" says idempotentSend "reconcile" but has no reconcile function`);
  if (!Array.isArray(caps.transports) || caps.transports.some((t) => t !== 'polling' && t !== 'webhook')) throw new TypeError(`channel "${spec.id}": capabilities.transports must list "polling" and/or "webhook"`);
  if (caps.transports.includes('polling') && typeof spec.poll !== 'function') throw new TypeError(`channel "${spec.id}" offers polling but has no poll function`);
  if (caps.transports.includes('webhook') && typeof spec.webhook !== 'function') throw new TypeError(`channel "${spec.id}" offers webhook but has no webhook function`);
}

async function attempt(run: () => Promise<{ platformMessageId?: string } | void>): Promise<CallOutcome> {
  try {
    const receipt = await run();
    const id = receipt && typeof receipt.platformMessageId === 'string' ? receipt.platformMessageId : undefined;
    return { ok: true, ...(id !== undefined ? { platformMessageId: id } : {}) };
  } catch (err) {
    return outcomeOf(err);
  }
}

interface ChannelInput {
  account: ChannelAccount;
  markdown?: string;
  buttons?: ReplyButton[];
  target?: ChannelTarget;
  part?: RenderedPart;
  platformMessageId?: string;
  state?: 'start' | 'stop';
  request?: WebhookRequest;
  session?: string;
}

export function channelHandler(spec: ChannelSpec, host: HostCalls): { registration: RegistrationSpec; handler: Handler } {
  checkSpec(spec);
  const methods = (['poll', 'webhook', 'connect', 'edit', 'typing', 'reconcile'] as const).filter((m): m is ChannelMethod => typeof spec[m] === 'function');
  const capabilities = {
    edit: spec.capabilities.edit === true && typeof spec.edit === 'function',
    typing: spec.capabilities.typing === true && typeof spec.typing === 'function',
    idempotentSend: spec.capabilities.idempotentSend,
    textLimit: spec.capabilities.textLimit,
    transports: [...spec.capabilities.transports],
  };
  const handler: Handler = (raw, signal, _id, method) => {
    const input = raw as unknown as ChannelInput;
    const { account } = input;
    switch (method) {
      case 'plan':
        return spec.plan(input.markdown ?? '', input.target as ChannelTarget, account, input.buttons ? { buttons: input.buttons } : {});
      case 'send':
        return attempt(() => spec.send(input.part as RenderedPart, input.target as ChannelTarget, account, signal));
      case 'edit':
        return attempt(() => (spec.edit as NonNullable<ChannelSpec['edit']>)(input.platformMessageId ?? '', input.part as RenderedPart, input.target as ChannelTarget, account, signal));
      case 'typing':
        return attempt(async () => (spec.typing as NonNullable<ChannelSpec['typing']>)(input.target as ChannelTarget, account, input.state ?? 'start', signal));
      case 'reconcile':
        return (spec.reconcile as NonNullable<ChannelSpec['reconcile']>)(input.part as RenderedPart, input.target as ChannelTarget, account, signal);
      case 'webhook':
        return (spec.webhook as NonNullable<ChannelSpec['webhook']>)(input.request as WebhookRequest, account);
      case 'connect':
        return attempt(async () => spec.connect?.(account, signal));
      case 'poll': {
        const session = input.session ?? '';
        const io = {
          ingest: async (events: InboundEvent[], options?: { cursor?: JsonValue }) =>
            void (await host.call({ target: 'channel', method: 'ingest' }, [session, events as unknown as JsonValue, ...(options?.cursor !== undefined ? [options.cursor] : [])])),
          cursor: async () => (await host.call({ target: 'channel', method: 'cursor' }, [session])) ?? null,
          fatal: (detail: string, hint?: string) => void host.call({ target: 'channel', method: 'fatal' }, [session, String(detail), hint === undefined ? null : String(hint)]).catch(() => undefined),
        };
        return (spec.poll as NonNullable<ChannelSpec['poll']>)(account, io, signal).then(() => null);
      }
      default:
        throw new TypeError(`channel "${spec.id}" has no method "${String(method)}"`);
    }
  };
  return { registration: { kind: 'channel', name: spec.id, capabilities, methods }, handler };
}

