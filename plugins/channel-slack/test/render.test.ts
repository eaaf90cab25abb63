import { describe, expect, it } from 'vitest';
import { buttonBlocks, escapeSlack, renderParts, renderSlack } from '../render.js';

describe('slack rendering', () => {
  it('writes Markdown as mrkdwn and escapes & < > everywhere', () => {
    expect(renderSlack('**bold**, *it*, ~~gone~~ and `a<b`')).toBe('*bold*, _it_, ~gone~ and `a&lt;b`');
    expect(renderSlack('# Title\n\ntext & <!channel> <@U123>')).toBe('*Title*\n\ntext &amp; &lt;!channel&gt; &lt;@U123&gt;');
    expect(escapeSlack('a & b < c > d')).toBe('a &amp; b &lt; c &gt; d');
  });

  it('keeps http(s) and mailto links as <url|label> and writes others out', () => {
    expect(renderSlack('[docs](https://example.com/a) and <https://example.com/b>')).toBe('<https://example.com/a|docs> and <https://example.com/b>');
    expect(renderSlack('[bad](javascript:alert(1))')).toBe('bad (javascript:alert(1))');
    expect(renderSlack('[pipe](https://example.com/a|b)')).toBe('pipe (https://example.com/a|b)');
  });

  it('fences code without a language and cannot be closed from inside', () => {
    expect(renderSlack('```js\nif (a < b) x = "```";\n```')).toBe('```\nif (a &lt; b) x = "`\u200b``";\n```');
  });

  it('quotes line by line, lists with bullets, tables as a fenced block', () => {
    expect(renderSlack('> one\n> two')).toBe('> one\n> two');
    expect(renderSlack('- a\n- b')).toBe('• a\n• b');
    expect(renderSlack('| k | v |\n|---|---|\n| a | 1 |')).toBe('```\nk | v\n--+--\na | 1\n```');
  });

  it('chunks within the limit and puts buttons on the last part only, its text within a section', () => {
    const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} ${'word '.repeat(30)}`).join('\n\n');
    const parts = renderParts(long, 4000, [{ label: 'Yes', value: '/yes' }]);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts.slice(0, -1)) expect(part.extra).toBeUndefined();
    const last = parts.at(-1)!;
    for (const part of parts) expect(part.text.length).toBeLessThanOrEqual(3000);
    expect(last.extra?.['blocks']).toEqual(buttonBlocks(last.text, [{ label: 'Yes', value: '/yes' }]));
    expect(renderParts(long, 4000).some((p) => p.text.length > 3000)).toBe(true);
  });

  it('cuts a label to Block Kit\'s 75 characters and gives each button its own action id', () => {
    const [, actions] = buttonBlocks('hi', [{ label: 'x'.repeat(80), value: 'a' }, { label: 'B', value: 'b' }]) as [unknown, { elements: Array<{ action_id: string; text: { text: string }; value: string }> }];
    expect(actions.elements.map((e) => [e.action_id, e.text.text.length, e.value])).toEqual([['pincer_button_0', 75, 'a'], ['pincer_button_1', 1, 'b']]);
  });

  it('has no parts for a reply with no visible text', () => {
    expect(renderParts('   ', 4000)).toEqual([]);
  });
});
