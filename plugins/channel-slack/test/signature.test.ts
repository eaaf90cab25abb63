import { describe, expect, it } from 'vitest';
import { checkSignature, slackSignature } from '../signature.js';

const secret = '8f742231b10e8888abcd99yyyzzz85a5';
const body = 'token=xyz&team_id=T1&command=%2Fweather&text=94070';
const now = 1_531_420_618_000;
const request = (headers: Record<string, string>) => ({ method: 'POST' as const, query: {}, headers, body });

describe('slack request signing', () => {
  it("matches Slack's documented example", () => {
    // api.slack.com/authentication/verifying-requests-from-slack
    expect(slackSignature('8f742231b10e8888abcd99yyyzzz85a5', '1531420618', 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c')).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });

  it('accepts a signed request inside the window', () => {
    const ts = String(now / 1000);
    expect(checkSignature(request({ 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(secret, ts, body) }), secret, now)).toBeUndefined();
  });

  it('refuses a missing, forged or stale signature with its own code', () => {
    const ts = String(now / 1000);
    expect(checkSignature(request({ 'x-slack-request-timestamp': ts }), secret, now)?.code).toBe('CHANNEL_WEBHOOK_UNSIGNED');
    expect(checkSignature(request({ 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature('other', ts, body) }), secret, now)?.code).toBe('CHANNEL_WEBHOOK_BAD_SIGNATURE');
    const old = String(now / 1000 - 301);
    expect(checkSignature(request({ 'x-slack-request-timestamp': old, 'x-slack-signature': slackSignature(secret, old, body) }), secret, now)?.code).toBe('CHANNEL_WEBHOOK_STALE');
    expect(checkSignature(request({ 'x-slack-request-timestamp': 'soon', 'x-slack-signature': 'v0=00' }), secret, now)?.code).toBe('CHANNEL_WEBHOOK_STALE');
  });
});
