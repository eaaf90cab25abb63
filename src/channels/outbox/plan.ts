import { PincerError } from '../../errors.js';
import type { DeliveryPlan, RateBucket, RenderedPart } from '../../plugins/sdk.js';

/** A plugin's plan is checked before it is stored: it is what every resend will send. */
export function checkPlan(value: unknown, textLimit: number): DeliveryPlan {
  const bad = (problem: string): never => {
    throw new PincerError('PLUGIN_BAD_REPLY', `the channel's plan ${problem}`);
  };
  const plan = value as Partial<DeliveryPlan> | null;
  if (!plan || typeof plan !== 'object' || !Array.isArray(plan.parts) || plan.parts.length === 0) return bad('has no parts');
  const parts: RenderedPart[] = plan.parts.map((p: Partial<RenderedPart>, i) => {
    if (!p || typeof p.text !== 'string' || typeof p.plain !== 'string' || p.text.length === 0) return bad(`part ${i} needs text and plain strings`);
    if (p.text.length > textLimit * 4) return bad(`part ${i} is ${p.text.length} characters, far over the channel's limit of ${textLimit}`);
    return { text: p.text, plain: p.plain, ...(p.extra && typeof p.extra === 'object' ? { extra: p.extra } : {}) };
  });
  const buckets: RateBucket[] = (Array.isArray(plan.buckets) ? plan.buckets : []).map((b: Partial<RateBucket>, i) => {
    if (!b || typeof b.key !== 'string' || !Number.isInteger(b.limit) || (b.limit as number) < 1 || typeof b.intervalMs !== 'number' || b.intervalMs <= 0) return bad(`bucket ${i} needs key, limit >= 1 and intervalMs > 0`);
    return { key: b.key, limit: b.limit as number, intervalMs: b.intervalMs };
  });
  return { parts, buckets };
}
