import { describe, expect, it } from 'vitest';
import { renderParts, renderWhatsApp } from '../render.js';
import { rateBuckets, whatsappSettings } from '../settings.js';

describe('WhatsApp markup rendering', () => {
  it('maps emphasis to WhatsApp markers, leaving other characters as written', () => {
    expect(renderWhatsApp('**bold** _it_ ~~gone~~ `a<b` 5 > 3 & "q"')).toBe('*bold* _it_ ~gone~ `a<b` 5 > 3 & "q"');
  });

  it('keeps markers against the text, headings bold, lists as lines, quotes with "> "', () => {
    expect(renderWhatsApp('# Plan\n\n- one\n- two\n\n> said\n> twice')).toBe('*Plan*\n\n• one\n• two\n\n> said\n> twice');
  });

  it('writes links as "label (url)", a bare URL once, code blocks and tables as monospace blocks', () => {
    expect(renderWhatsApp('[docs](https://example.com/d) and https://example.com/x')).toBe('docs (https://example.com/d) and https://example.com/x');
    expect(renderWhatsApp('```js\nconst a = 1;\n```')).toBe('```\nconst a = 1;\n```');
    expect(renderWhatsApp('| a | b |\n|---|---|\n| 1 | 22 |')).toBe('```\na | b\n--+---\n1 | 22\n```');
  });

  it('cuts a long reply within the limit, closing and reopening a code block it splits', () => {
    const code = Array.from({ length: 300 }, (_, i) => `line ${i} of the code block`).join('\n');
    const markdown = `${'Some words in a paragraph. '.repeat(100)}\n\n\`\`\`\n${code}\n\`\`\`\n\nThe end.`;
    const parts = renderParts(markdown, 4096);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) {
      expect([...part.text].length).toBeLessThanOrEqual(4096);
      expect((part.text.match(/```/g) ?? []).length % 2).toBe(0);
    }
    expect(parts.at(-1)?.text).toContain('The end.');
  });

  it('has no parts for a reply with nothing to show', () => {
    expect(renderParts('   \n\n', 4096)).toEqual([]);
  });
});

describe('WhatsApp settings', () => {
  const base = { phone_number_id: '106540352242922', access_token: 'EAAt' };

  it('defaults the Graph root, version, limit and buckets (80/s per number, 10/min per recipient)', () => {
    const s = whatsappSettings({ id: 'default', config: base });
    expect(s).toMatchObject({ graphApiRoot: 'https://graph.facebook.com', apiVersion: 'v21.0', textLimit: 4096 });
    expect(rateBuckets(s, '4915100000001')).toEqual([
      { key: 'phone_number', limit: 80, intervalMs: 1000 },
      { key: 'to:4915100000001', limit: 10, intervalMs: 60_000 },
    ]);
    expect(rateBuckets(whatsappSettings({ id: 'a', config: { ...base, rate: { per_recipient: '1/s' } } }), '1')[1]).toEqual({ key: 'to:1', limit: 1, intervalMs: 1000 });
  });

  it('names the key at fault', () => {
    expect(() => whatsappSettings({ id: 'shop', config: { access_token: 't' } })).toThrow(/channels\.whatsapp\.accounts\.shop\.phone_number_id is not set/);
    expect(() => whatsappSettings({ id: 'shop', config: { phone_number_id: '+1 555 0100', access_token: 't' } })).toThrow(/numeric id/);
    expect(() => whatsappSettings({ id: 'shop', config: { phone_number_id: '1' } })).toThrow(/access_token is not set \(or WHATSAPP_ACCESS_TOKEN/);
    expect(() => whatsappSettings({ id: 'shop', config: { ...base, api_version: '21' } })).toThrow(/api_version/);
    expect(() => whatsappSettings({ id: 'shop', config: { ...base, rate: { per_chat: '1/s' } } })).toThrow(/rate\.per_chat is unknown/);
    try {
      whatsappSettings({ id: 'shop', config: {} });
    } catch (error) {
      expect((error as { code?: string }).code).toBe('CHANNEL_ACCOUNT_INVALID');
    }
  });
});
