import { describe, expect, it } from 'vitest';
import { BUTTONS_ONLY_BODY, interactiveOf, LIST_BUTTON, renderParts, shorten } from '../render.js';

const buttons = (n: number, label = (i: number) => `Option ${i}`) => Array.from({ length: n }, (_, i) => ({ label: label(i), value: `/pick ${i}` }));

describe('WhatsApp interactive replies', () => {
  it('puts 1 to 3 buttons on the last part as reply buttons whose ids are the values', () => {
    const parts = renderParts('Pick **one**', 4096, buttons(3));
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ text: 'Pick *one*' });
    expect(parts[0]!.extra).toEqual({
      interactive: {
        type: 'button',
        action: {
          buttons: [0, 1, 2].map((i) => ({ type: 'reply', reply: { id: `/pick ${i}`, title: `Option ${i}` } })),
        },
      },
    });
  });

  it('makes 4 to 10 buttons a list behind one button, long labels cut with the whole label as description', () => {
    const got = interactiveOf(buttons(10, (i) => (i === 0 ? 'A label much longer than twenty-four characters' : `Row ${i}`)));
    expect(got).toMatchObject({ type: 'list', action: { button: LIST_BUTTON } });
    const rows = (got!.action as { sections: Array<{ rows: Array<Record<string, string>> }> }).sections[0]!.rows;
    expect(rows).toHaveLength(10);
    expect(rows[0]).toEqual({ id: '/pick 0', title: 'A label much longer tha…', description: 'A label much longer than twenty-four characters' });
    expect(rows[1]).toEqual({ id: '/pick 1', title: 'Row 1' });
    for (const row of rows) expect([...row.title!].length).toBeLessThanOrEqual(24);
  });

  it('cuts button titles to 20 characters, and uses a list when cutting makes two alike', () => {
    const one = interactiveOf([{ label: 'Confirm the order right now', value: 'yes' }]);
    expect((one!.action as { buttons: Array<{ reply: { title: string } }> }).buttons[0]!.reply.title).toBe('Confirm the order r…');
    const alike = interactiveOf([
      { label: 'Deliver to the office A', value: 'a' },
      { label: 'Deliver to the office B', value: 'b' },
    ]);
    expect(alike?.type).toBe('list');
    expect(shorten('😀'.repeat(30), 20)).toBe('😀'.repeat(19) + '…');
  });

  it('drops a repeated value (Meta refuses duplicate ids)', () => {
    const got = interactiveOf([
      { label: 'Yes', value: 'y' },
      { label: 'Yes again', value: 'y' },
      { label: 'No', value: 'n' },
    ]);
    expect((got!.action as { buttons: unknown[] }).buttons).toHaveLength(2);
  });

  it('cuts a last part over 1,024 characters again so the interactive body fits', () => {
    const markdown = Array.from({ length: 60 }, (_, i) => `Sentence ${i} of a reply that is long.`).join(' ');
    const plain = renderParts(markdown, 4096);
    expect(plain).toHaveLength(1);
    const parts = renderParts(markdown, 4096, buttons(2));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.slice(0, -1).every((p) => p.extra === undefined)).toBe(true);
    expect([...parts.at(-1)!.text].length).toBeLessThanOrEqual(1024);
    expect(parts.at(-1)!.extra?.interactive).toBeDefined();
    expect(parts.map((p) => p.text).join(' ')).toContain('Sentence 59');
  });

  it('gives a reply that is only buttons a body, since WhatsApp needs one', () => {
    expect(renderParts('  ', 4096, buttons(1))).toEqual([{ text: BUTTONS_ONLY_BODY, plain: BUTTONS_ONLY_BODY, extra: { interactive: expect.objectContaining({ type: 'button' }) } }]);
  });
});
