import { z } from 'zod';
import { parseDuration } from './duration.js';

/** A config duration: seconds as a number, or a string such as "250ms", "5s", "10m", "7d". Parsed to ms. */
export const durationSchema = (fallback: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration: seconds as a number, or a string like "500ms", "5s", "10m", "1h", "7d"' });
        return z.NEVER;
      }
      return ms;
    });
