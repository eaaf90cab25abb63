/**
 * What channel plugins share at run time, importable as `pincer/channel-kit`: Markdown
 * rendering and chunking, Standard Webhooks signatures, and the error a send throws. Pure
 * code only, so a plugin thread that imports it loads nothing else of Pincer.
 */
export { ChannelError, CHANNEL_ERROR } from '../../plugins/sdk.js';
export {
  signWebhook,
  toWhsec,
  verifyWebhook,
  webhookHeaders,
  webhookKey,
  WebhookSecretError,
  WEBHOOK_TOLERANCE_SECONDS,
  type VerifyWebhookOptions,
  type WebhookCheck,
  type WebhookHeaderBag,
  type WebhookHeaders,
  type WebhookRefusalCode,
  type WebhookSecret,
} from './standard-webhooks.js';
// Channel settings are durations in the config file's own syntax ("10s", or seconds as a number).
export { parseDuration } from '../../config/duration.js';
// Markdown replies rendered per platform, then chunked within its limit.
export {
  decodeEntities,
  lexMarkdown,
  plainInline,
  renderMarkdown,
  type MarkdownRenderer,
  type MarkdownToken,
} from './markdown.js';
export { chunkRendered, type Chunk, type Markup, type MarkupUnit, type OpenElement } from './chunk.js';
export { escapeHtml, escapeHtmlAttribute, fencedMarkup, htmlMarkup } from './markup.js';
export { ChannelSettingsError, CHANNEL_ACCOUNT_INVALID, quoteLines, settingsForCall, textTable } from './plain.js';
export { backoffDelay, DEFAULT_BACKOFF, pause, type Backoff } from './backoff.js';
export { failedBeforeSending, networkErrorCode, NOT_SENT_CODES } from './network.js';
