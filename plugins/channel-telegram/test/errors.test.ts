import { describe, expect, it } from 'vitest';
import { ChannelError } from 'pincer/channel-kit';
import { GrammyError, HttpError } from 'grammy';
import { classifyTelegramError, isNotModified } from '../errors.js';

function refusal(error_code: number, description: string, parameters: Record<string, number> = {}): GrammyError {
  return new GrammyError(`Call to 'sendMessage' failed! (${error_code}: ${description})`, { ok: false, error_code, description, parameters }, 'sendMessage', {});
}

/** What node-fetch throws for a failed connection, wrapped by grammY. */
function network(code: string): HttpError {
  return new HttpError(`Network request for 'sendMessage' failed!`, Object.assign(new Error(`request failed, reason: ${code}`), { code, errno: code, type: 'system' }));
}

const classOf = (err: unknown) => {
  const classified = classifyTelegramError(err);
  return { errorClass: classified.errorClass, retryAfterMs: classified.retryAfterMs };
};

describe('classifyTelegramError', () => {
  it('takes a 429 as rate limited for retry_after seconds', () => {
    expect(classOf(refusal(429, 'Too Many Requests: retry after 7', { retry_after: 7 }))).toEqual({ errorClass: 'rate_limited', retryAfterMs: 7000 });
  });

  it('takes a markup refusal as unparsable, so the plain text is sent', () => {
    expect(classOf(refusal(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")).errorClass).toBe('unparsable');
  });

  it('takes what sending again cannot change as permanent', () => {
    for (const [code, text] of [
      [400, 'Bad Request: message is too long'],
      [400, 'Bad Request: chat not found'],
      [403, 'Forbidden: bot was blocked by the user'],
      [403, 'Forbidden: bot was kicked from the group chat'],
      [400, 'Bad Request: message thread not found'],
      [401, 'Unauthorized'],
    ] as const) {
      expect(classOf(refusal(code, text)).errorClass).toBe('permanent');
    }
    const moved = classifyTelegramError(refusal(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -100777 }));
    expect(moved.errorClass).toBe('permanent');
    expect(moved.message).toContain('-100777');
  });

  it('takes a failure before the connection was made as transient: the message surely did not leave', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']) {
      expect(classOf(network(code)).errorClass).toBe('transient');
    }
  });

  it('takes a 5xx, a reset, a timeout or anything unknown as ambiguous: the message may be in the chat', () => {
    expect(classOf(refusal(500, 'Internal Server Error')).errorClass).toBe('ambiguous');
    expect(classOf(refusal(502, 'Bad Gateway')).errorClass).toBe('ambiguous');
    expect(classOf(network('ECONNRESET')).errorClass).toBe('ambiguous');
    expect(classOf(new HttpError("Network request for 'sendMessage' failed!", new Error("Request to 'sendMessage' timed out after 60 seconds"))).errorClass).toBe('ambiguous');
    expect(classOf(new Error('what')).errorClass).toBe('ambiguous');
  });

  it('passes a ChannelError through, and is one itself', () => {
    const own = new ChannelError('transient', 'mine');
    expect(classifyTelegramError(own)).toBe(own);
    const classified = classifyTelegramError(refusal(400, 'Bad Request: chat not found'));
    expect(classified).toBeInstanceOf(ChannelError);
    expect(classified.code).toBe('CHANNEL_ERROR');
  });

  it('knows "message is not modified" from other refusals', () => {
    expect(isNotModified(refusal(400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same'))).toBe(true);
    expect(isNotModified(refusal(400, 'Bad Request: message to edit not found'))).toBe(false);
  });
});
