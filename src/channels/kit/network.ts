/**
 * What a failed HTTP call to a platform tells about a write. A call refused before its
 * connection opened (no route, no such host) cannot have reached the platform, so it is safe
 * to send again; a reset or a timeout after the request went out may have been acted on.
 */

/** Codes (system and undici) that mean no request left this machine. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** The system or undici error code of an error or of one of its causes (fetch wraps them). */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function failedBeforeSending(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && NOT_SENT_CODES.has(code);
}
