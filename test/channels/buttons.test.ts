import { describe, expect, it } from 'vitest';
import { bodyExtras, MAX_BUTTONS, replyButtons } from '../../src/channels/buttons.js';

describe('reply buttons', () => {
  it('takes the buttons a reply names, trimmed labels, in order', () => {
    const got = replyButtons({ buttons: [{ label: ' Yes ', value: '/confirm 42' }, { label: 'No', value: 'no' }] });
    expect(got).toEqual({ buttons: [{ label: 'Yes', value: '/confirm 42' }, { label: 'No', value: 'no' }] });
  });

  it('has none when the reply names none', () => {
    expect(replyButtons(undefined)).toEqual({});
    expect(replyButtons({ other: 1 })).toEqual({});
  });

  it('leaves buttons off with the reason when one does not fit the contract', () => {
    const long = replyButtons({ buttons: [{ label: 'ok', value: 'é'.repeat(33) }] });
    expect(long.buttons).toBeUndefined();
    expect(long.problem).toMatch(/^reply\.data\.buttons\.0\.value: is over 64 bytes/);
    const many = replyButtons({ buttons: Array.from({ length: MAX_BUTTONS + 1 }, (_, i) => ({ label: `b${i}`, value: `v${i}` })) });
    expect(many.problem).toMatch(/^reply\.data\.buttons:/);
    expect(replyButtons({ buttons: [{ label: '  ', value: 'x' }] }).problem).toMatch(/buttons\.0\.label/);
    expect(replyButtons({ buttons: 'yes' }).problem).toBeDefined();
  });

  it('reads them back from a stored delivery body', () => {
    expect(bodyExtras({ markdown: 'hi', buttons: [{ label: 'A', value: 'a' }] })).toEqual({ buttons: [{ label: 'A', value: 'a' }] });
    expect(bodyExtras({ markdown: 'hi' })).toEqual({});
  });
});
