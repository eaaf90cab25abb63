/**
 * What a failed Bot API call means for the delivery. Telegram has no idempotency key, so a
 * send is retried only when it surely never arrived: the connection was never made. Once the
 * request may have been written, a failure (a 5xx, a timeout, a reset) is ambiguous and the
 * message may already be in the chat.
 */
import { ChannelError, networkErrorCode, NOT_SENT_CODES } from 'pincer/channel-kit';
import { GrammyError, HttpError } from 'grammy';

/** Telegram's error envelope (or the transport's failure) as a classified ChannelError. */
export function classifyTelegramError(err: unknown): ChannelError {
  if (err instanceof ChannelError) return err;
  if (err instanceof GrammyError) {
    const what = `${err.method}: ${err.error_code} ${err.description}`;
    if (err.error_code === 429) {
      const seconds = err.parameters.retry_after;
      return new ChannelError('rate_limited', what, (typeof seconds === 'number' && seconds >= 0 ? seconds : 1) * 1000);
    }
    if (err.error_code >= 500) return new ChannelError('ambiguous', what);
    if (err.error_code === 400 && /can't parse entities/i.test(err.description)) return new ChannelError('unparsable', what);
    const moved = err.parameters.migrate_to_chat_id;
    if (moved !== undefined) return new ChannelError('permanent', `${what} (the group is now supergroup ${moved})`);
    // Chat not found, blocked or kicked (403), too long, bad request, token refused: sending again changes nothing.
    return new ChannelError('permanent', what);
  }
  if (err instanceof HttpError) {
    const code = networkErrorCode(err.error);
    if (code !== undefined && NOT_SENT_CODES.has(code)) return new ChannelError('transient', `${err.message} (${code})`);
    return new ChannelError('ambiguous', code === undefined ? err.message : `${err.message} (${code})`);
  }
  return new ChannelError('ambiguous', err instanceof Error ? err.message : String(err));
}

/** The Bot API's answer code, when the failure is Telegram's own refusal. */
export function telegramStatus(err: unknown): number | undefined {
  return err instanceof GrammyError ? err.error_code : undefined;
}

export function isNotModified(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message is not modified/i.test(err.description);
}
