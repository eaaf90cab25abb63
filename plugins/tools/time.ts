/** current_time: the date and time now, in the zone the model names, else the sender's, else the plugin's. */
import type { JsonObject } from 'pincer/plugin';

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The IANA zone a name means: an IANA name (any case) as Intl spells it, or a zone's city
 * ("Tokyo", "new york" for America/New_York), which is what a user types and the built-in
 * model fills a slot with. Undefined for anything else.
 */
export function resolveZone(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    const city = trimmed.toLowerCase().replace(/\s+/g, '_');
    return Intl.supportedValuesOf('timeZone').find((zone) => zone.split('/').at(-1)?.toLowerCase() === city);
  }
}

/** Now in `zone`: ISO date and time with its offset, the weekday, the zone's name, and a sentence saying it. */
export function timeIn(zone: string, now: Date = new Date()): JsonObject {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', weekday: 'long', timeZoneName: 'longOffset' })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  );
  const offset = String(parts['timeZoneName'] ?? 'GMT').replace(/^GMT$/, 'GMT+00:00').replace('GMT', '');
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    time: `${parts['hour']}:${parts['minute']}:${parts['second']}`,
    iso: `${parts['year']}-${parts['month']}-${parts['day']}T${parts['hour']}:${parts['minute']}:${parts['second']}${offset}`,
    weekday: String(parts['weekday']),
    timeZone: zone,
    unixMs: now.getTime(),
    text: `It is ${parts['hour']}:${parts['minute']} on ${parts['weekday']}, ${parts['year']}-${parts['month']}-${parts['day']} (${zone}).`,
  };
}
