import { describe, expect, it } from 'vitest';
import { echoText, helpText, statsFigures, statsText } from '../core.js';

describe('commands plugin core', () => {
  it('lists commands alphabetically with their usage', () => {
    const text = helpText('Bot', '1.2.3', [
      { name: 'ping', description: 'alive?' },
      { name: 'echo', description: 'repeat', usage: '<text>' },
    ]);
    expect(text).toBe('Bot 1.2.3. Commands:\n/echo <text> - repeat\n/ping - alive?');
  });

  it('echoes, explains usage when empty, and cuts long text', () => {
    expect(echoText('hi there', 100)).toBe('hi there');
    expect(echoText('', 100)).toBe('Usage: /echo <text>');
    expect(echoText('abcdef', 3)).toBe('abc…');
  });

  it('turns queue stats into figures and a sentence', () => {
    const figures = statsFigures(
      { depth: 3, limit: 10, completed: 7, byState: { queued: 1, processing: 2, done: 7, failed: 0, dead: 1 } },
      1_000,
      11_400,
    );
    expect(figures).toEqual({ uptimeSeconds: 10, depth: 3, limit: 10, processing: 2, failed: 0, dead: 1, completed: 7 });
    expect(statsText(figures)).toContain('Up 10 s. Queue: 3 waiting or in progress (limit 10), 2 processing');
  });
});
