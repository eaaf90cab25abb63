/**
 * TOOL_MIN_CONFIDENCE measured, not guessed: on the labelled phrases of
 * test/fixtures/local-tools/tools.ts, the threshold is chosen on the tuning half (the middle
 * of the widest range of thresholds with the best accuracy there) and then judged on the
 * held-out half, which played no part in choosing it. A phrase counts as right when it is
 * routed to its tool (whether the call is made or its missing arguments are asked for) or,
 * out of scope, not routed; and where the label gives arguments, when they are filled exactly.
 */
import { describe, expect, it } from 'vitest';
import { INTENTS } from '../../../src/models/local/corpus.js';
import { ToolIndex } from '../../../src/models/local/tool-index.js';
import { TOOL_MIN_CONFIDENCE } from '../../../src/models/local/tool-turn.js';
import { LABELLED, TOOLS, type Labelled } from '../../fixtures/local-tools/tools.js';

const index = new ToolIndex(TOOLS, INTENTS);
const scored = (set: Labelled[]) => set.map((l) => ({ ...l, match: index.match(l.text) }));

function accuracy(set: ReturnType<typeof scored>, threshold: number) {
  let routed = 0;
  let rejected = 0;
  let argsRight = 0;
  for (const { tool, args, match } of set) {
    const chosen = match && match.confidence >= threshold ? match.tool.definition.name : null;
    if (tool === null && chosen === null) rejected++;
    if (tool !== null && chosen === tool) {
      routed++;
      if (args && JSON.stringify(sorted(match?.args ?? {})) === JSON.stringify(sorted(args))) argsRight++;
    }
  }
  const inScope = set.filter((l) => l.tool !== null).length;
  return { correct: routed + rejected, total: set.length, routed, inScope, rejected, outOfScope: set.length - inScope, argsRight, withArgs: set.filter((l) => l.tool !== null && l.args).length };
}

function sorted(o: object): Array<[string, unknown]> {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

/** The thresholds with the best accuracy on the set: an interval between two neighbouring confidences. */
function bestInterval(set: ReturnType<typeof scored>): { low: number; high: number; correct: number } {
  const cuts = [...new Set([0, ...set.map((s) => s.match?.confidence ?? 0), 1.001])].sort((a, b) => a - b);
  let best = { low: 0, high: 0, correct: -1 };
  for (let i = 0; i + 1 < cuts.length; i++) {
    // Any threshold in (cuts[i], cuts[i+1]] gives the same decisions.
    const { correct } = accuracy(set, cuts[i + 1] as number);
    const width = (cuts[i + 1] as number) - (cuts[i] as number);
    if (correct > best.correct || (correct === best.correct && width > best.high - best.low)) best = { low: cuts[i] as number, high: cuts[i + 1] as number, correct };
  }
  return best;
}

describe('the built-in model\'s tool threshold, on labelled phrases', () => {
  const tune = scored(LABELLED.tune);
  const heldOut = scored(LABELLED.heldOut);

  it('is the middle of the best range of thresholds on the tuning half', () => {
    const best = bestInterval(tune);
    expect(TOOL_MIN_CONFIDENCE).toBeGreaterThan(best.low);
    expect(TOOL_MIN_CONFIDENCE).toBeLessThanOrEqual(best.high);
    expect(Math.abs(TOOL_MIN_CONFIDENCE - (best.low + best.high) / 2)).toBeLessThan(0.01);
    // The figures docs/tools.md reports: the range, and the accuracy in it.
    expect([Math.round(best.low * 1000) / 1000, Math.round(best.high * 1000) / 1000]).toEqual([0.577, 0.816]);
    expect(accuracy(tune, TOOL_MIN_CONFIDENCE)).toEqual({ correct: 40, total: 40, routed: 20, inScope: 20, rejected: 20, outOfScope: 20, argsRight: 17, withArgs: 17 });
  });

  it('holds on the held-out half, which played no part in choosing it', () => {
    expect(accuracy(heldOut, TOOL_MIN_CONFIDENCE)).toEqual({ correct: 32, total: 32, routed: 16, inScope: 16, rejected: 16, outOfScope: 16, argsRight: 12, withArgs: 12 });
  });

  it('would be worse at the intents\' own threshold (0.45): near misses would be routed', () => {
    const loose = accuracy(tune, 0.45);
    expect(loose.rejected).toBeLessThan(loose.outOfScope);
  });
});
