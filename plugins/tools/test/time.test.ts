import { describe, expect, it } from 'vitest';
import { isTimeZone, resolveZone, timeIn } from '../time.js';

describe('current_time', () => {
  const instant = new Date('2026-12-03T19:30:05Z');

  it('answers in the zone asked for, with its offset and weekday', () => {
    expect(timeIn('Asia/Tokyo', instant)).toEqual({ date: '2026-12-04', time: '04:30:05', iso: '2026-12-04T04:30:05+09:00', weekday: 'Friday', timeZone: 'Asia/Tokyo', unixMs: instant.getTime(), text: 'It is 04:30 on Friday, 2026-12-04 (Asia/Tokyo).' });
    expect(timeIn('UTC', instant)).toMatchObject({ iso: '2026-12-03T19:30:05+00:00', weekday: 'Thursday' });
  });

  it('resolves a zone from its IANA name in any case, or from its city', () => {
    expect(resolveZone('asia/tokyo')).toBe('Asia/Tokyo');
    expect(resolveZone('Tokyo')).toBe('Asia/Tokyo');
    expect(resolveZone('new york')).toBe('America/New_York');
    expect(resolveZone('Atlantis')).toBeUndefined();
    expect(resolveZone(' ')).toBeUndefined();
  });

  it('knows an IANA zone from a made-up one', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
