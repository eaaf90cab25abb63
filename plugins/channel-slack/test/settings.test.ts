import { describe, expect, it } from 'vitest';
import { slackSettings } from '../settings.js';

const account = (config: Record<string, unknown>) => ({ id: 'main', config: config as never });

describe('slack settings', () => {
  it('reads an account with its defaults', () => {
    expect(slackSettings(account({ token: 'xoxb-1-abc', signing_secret: 'abcdef0123456789' }))).toEqual({
      token: 'xoxb-1-abc',
      signingSecret: 'abcdef0123456789',
      appToken: undefined,
      apiRoot: 'https://slack.com/api/',
      replyInThread: false,
      textLimit: 4000,
    });
    expect(slackSettings(account({ token: 'xoxb-1', api_root: 'http://127.0.0.1:9/api' })).apiRoot).toBe('http://127.0.0.1:9/api/');
  });

  it('names the key that cannot work', () => {
    expect(() => slackSettings(account({}))).toThrow(/channels\.slack\.accounts\.main\.token is not set \(or SLACK_BOT_TOKEN/);
    expect(() => slackSettings(account({ token: 'Bearer xoxb-1' }))).toThrow(/token must be a bot token/);
    expect(() => slackSettings(account({ token: 'xoxb-1', app_token: 'xoxb-2' }))).toThrow(/app_token must be an app-level token/);
    expect(() => slackSettings(account({ token: 'xoxb-1', signing_secret: 'xoxb-nope' }))).toThrow(/signing_secret must be/);
    expect(() => slackSettings(account({ token: 'xoxb-1', text_chunk_limit: 50_000 }))).toThrow(/text_chunk_limit/);
    expect(() => slackSettings(account({ token: 'xoxb-1', reply_in_thread: 'yes' }))).toThrow(/reply_in_thread/);
  });
});
