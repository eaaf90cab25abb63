/**
 * Whether an error means the store cannot be reached or cannot take the write now (as opposed
 * to a bug or a bad request): the HTTP layer answers those with 503 STORE_UNAVAILABLE, so a
 * client retries and a load balancer routes around the node, instead of a 500.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // SQLite's storage failures, not its logic errors (a constraint, a bad statement): those are bugs, not "try again".
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code)) return true;
    // The network between node and database.
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
    // PostgreSQL SQLSTATEs: connection exceptions (08), insufficient resources (53), operator
    // intervention such as a shutdown or a terminated backend (57P0x), a database refusing
    // connections (55000 on "not currently accepting connections"), read-only standby (25006).
    if (/^(08|53)/.test(code) || /^57P0[1-4]$/.test(code) || code === '25006') return true;
    if (code === '55000' && /not currently accepting connections/i.test(String((err as Error).message))) return true;
  }
  // node-postgres reports a pool that cannot connect, or a connection that dropped, in words.
  const message = err instanceof Error ? err.message : '';
  if (/timeout exceeded when trying to connect|Connection terminated|connection is closed|Client has encountered a connection error/i.test(message)) return true;
  // AggregateError from a failed connect to several addresses (IPv4 and IPv6).
  if (err instanceof AggregateError) return err.errors.some(isStoreUnavailable);
  return false;
}
