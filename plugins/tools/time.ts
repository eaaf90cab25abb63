/** current_time: the date and time now, in the sender's time zone when the message names one. */
import type { JsonObject } from 'pincer/plugin';

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Now in `zone`: ISO date and time with its offset, the weekday, and the zone's name. */
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
  };
}
