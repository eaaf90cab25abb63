/**
 * What a failed HTTP call to a platform tells about a write. A call refused before its
 * connection opened (no route, no such host) cannot have reached the platform, so it is safe
 * to send again; a reset or a timeout after the request went out may have been acted on.
 */

/** Codes (system, undici, TLS) that mean no request left this machine. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  // TLS handshakes that fail: the request is written only after one succeeds.
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

const CODE = /^(E[A-Z_]+|UND_ERR_[A-Z_]+|ERR_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/;

/**
 * The system, undici or TLS error code of an error or of one it wraps: fetch puts it in
 * `cause`, grammY's HttpError in `error`.
 */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CODE.test(code)) return code;
    e = (e as { error?: unknown }).error ?? (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function failedBeforeSending(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && NOT_SENT_CODES.has(code);
}
