import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7: 48 bits of Unix milliseconds, then random bits. Ids made in time order land at the
 * end of the store's indexes instead of at random pages, which keeps inserts cheap.
 */
export function timeOrderedId(now = Date.now()): string {
  const hex = now.toString(16).padStart(12, '0');
  const random = randomUUID();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${random.slice(15)}`;
}
