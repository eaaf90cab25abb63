/**
 * Every error code Pincer raises, with the HTTP status it answers with and what it means: the
 * one list (Fastify's `lib/errors.js` idea). `PincerError` takes only these codes, so a code that
 * is not here does not compile; docs/api.md lists the same codes, and test/errors checks both.
 *
 * Naming: SCREAMING_SNAKE, a domain prefix (MESSAGE_, QUEUE_, STORE_, MODEL_, PLUGIN_, ...).
 * The unprefixed codes at the top are the HTTP API's request-level codes, released before the
 * scheme and kept because clients match on them. A code never changes meaning once released.
 *
 * `message` is the generic meaning, used in the docs and when a throw site gives none; a throw
 * site's own message says what exactly went wrong.
 */
export const ERRORS = {
  // The HTTP request itself
  VALIDATION_ERROR: { status: 400, message: 'The request does not match the schema; the message names the field.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  EMPTY_BODY: { status: 400, message: 'The request says it carries JSON but its body is empty.' },
  INVALID_CONTENT_LENGTH: { status: 400, message: 'The Content-Length header does not match the body.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed (a bad URL, say).' },
  UNAUTHORIZED: { status: 401, message: 'No bearer token, or one that is not valid.' },
  FORBIDDEN: { status: 403, message: 'The token may not use this route (admin routes need an admin token).' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The route exists, but not for this HTTP method.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than server.body_limit.' },
  URI_TOO_LONG: { status: 414, message: 'A path parameter is longer than the router accepts.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The body has a Content-Type the route does not take.' },
  SERVER_CLOSING: { status: 503, message: 'This Pincer is shutting down and takes no new requests; retry (on another node).' },
  INTERNAL_ERROR: { status: 500, message: 'An unexpected error; details are in the server log under the request id.' },

  // Messages and conversations
  MESSAGE_NOT_FOUND: { status: 404, message: 'No message with this id.' },
  MESSAGE_INVALID: { status: 400, message: 'A message field cannot be stored (a NUL character, say).' },
  MESSAGE_REJECTED: { status: 400, message: 'The store refused this message (a constraint it breaks).' },
  METADATA_TOO_DEEP: { status: 400, message: 'The message metadata nests deeper than queue.max_metadata_depth.' },
  METADATA_TOO_LARGE: { status: 400, message: 'The message metadata is larger than queue.max_metadata_bytes as JSON.' },
  CONVERSATION_NOT_FOUND: { status: 404, message: 'No conversation with this id.' },

  // Replies (the synchronous APIs wait for one)
  REPLY_TIMEOUT: { status: 504, message: 'No reply within the wait; the message stays queued and can be read later.' },
  REPLY_FAILED: { status: 502, message: 'The bot could not answer: the message died after its attempts.' },
  REPLY_RETRIED: { status: 502, message: 'A streamed reply was retried after part of a failed attempt had been sent; read the whole reply from the message.' },
  REPLY_UNSTORABLE: { status: 500, message: 'The reply or analysis cannot be stored as JSON.' },

  // The queue
  QUEUE_FULL: { status: 429, message: 'The queue is full: too many messages waiting. Retry after the Retry-After header.' },
  QUEUE_CLOSED: { status: 503, message: 'The queue is closed because Pincer is shutting down.' },

  // The store
  STORE_UNAVAILABLE: { status: 503, message: 'The message store could not complete the request; try again shortly (Retry-After).' },
  STORE_LOCKED: { status: 503, message: 'The SQLite store is in use by another Pincer process.' },
  STORE_INVALID: { status: 500, message: 'The store setting is not valid (URL, schema name or a connection parameter).' },
  STORE_UNSUPPORTED: { status: 500, message: 'The store setting names neither sqlite: nor postgres://.' },
  STORE_SCHEMA_NEWER: { status: 500, message: 'The store was written by a newer Pincer than this one.' },

  // Configuration and start-up
  CONFIG_INVALID: { status: 500, message: 'The configuration is not valid; the message names each key and where its value came from.' },
  CONFIG_INSECURE_BIND: { status: 500, message: 'Refusing to listen beyond loopback without API tokens.' },

  // Workers: outcomes that are nobody's fault (a plugin is not blamed for them)
  WORKER_SHUTDOWN: { status: 503, message: "A message's work was aborted because the worker is shutting down; the message goes back to the queue." },
  LEASE_LOST: { status: 409, message: 'The lease on a message moved to another worker; this copy of the work was stopped.' },

  // The pipeline
  PIPELINE_STAGE_FAILED: { status: 500, message: 'A pipeline stage (analyzer, command, responder) threw.' },
  PIPELINE_STAGE_TIMEOUT: { status: 500, message: 'A pipeline stage did not finish within its time budget.' },
  PIPELINE_DUPLICATE_ANALYZER: { status: 409, message: 'An analyzer with this name is already registered.' },
  PIPELINE_DUPLICATE_COMMAND: { status: 409, message: 'A command with this name is already registered.' },
  PIPELINE_DUPLICATE_TOOL: { status: 409, message: 'A tool with this name is already registered.' },
  PIPELINE_DUPLICATE_CHANNEL: { status: 409, message: 'A channel with this name is already registered.' },
  PIPELINE_BAD_COMMAND_NAME: { status: 400, message: 'A command name breaks the naming rule.' },
  PIPELINE_BAD_TOOL_NAME: { status: 400, message: 'A tool name breaks the naming rule.' },
  PIPELINE_BAD_TOOL_EXAMPLES: { status: 400, message: "A tool's examples are malformed or name a slot that is not one of its parameters." },
  PIPELINE_BAD_CHANNEL_NAME: { status: 400, message: 'A channel name breaks the naming rule.' },

  // Models
  MODEL_NOT_FOUND: { status: 404, message: 'No model or deployment with this id (or none that does this kind of call).' },
  MODEL_BUSY: { status: 429, message: 'The model is at its concurrency limit and its wait queue is full; retry shortly.' },
  MODEL_CONFIG_INVALID: { status: 500, message: 'A model deployment is configured wrongly (a missing key, path or URL).' },
  MODEL_AUTH: { status: 401, message: 'The model vendor refused the credentials.' },
  MODEL_RATE_LIMIT: { status: 429, message: 'The model vendor is rate-limiting.' },
  MODEL_CONTEXT_LENGTH: { status: 400, message: "The request is longer than the model's context." },
  MODEL_TIMEOUT: { status: 504, message: 'The model did not answer in time.' },
  MODEL_SERVER: { status: 502, message: 'The model vendor failed (a 5xx, a refused connection).' },
  MODEL_BAD_RESPONSE: { status: 502, message: 'The model answered with something Pincer cannot read, or ended a stream early.' },
  MODEL_ABORTED: { status: 499, message: 'The model call was aborted by its caller.' },

  // Plugins: lookup and state
  PLUGIN_NOT_FOUND: { status: 404, message: 'No plugin with this name in plugins/, node_modules or the bundled plugins.' },
  PLUGIN_NOT_RUNNING: { status: 404, message: 'The plugin is not running.' },
  PLUGIN_NOT_ENABLED: { status: 409, message: 'The plugin is disabled; enable it instead.' },
  PLUGIN_AUTO_DISABLED: { status: 503, message: 'The plugin was disabled after too many consecutive failures.' },
  PLUGIN_DUPLICATE: { status: 422, message: 'Another package provides a plugin of the same name and takes precedence.' },
  // Plugins: manifest, configuration, install
  PLUGIN_MANIFEST_INVALID: { status: 422, message: 'The package.json "pincer" manifest is missing or not valid.' },
  PLUGIN_MANIFEST_MISMATCH: { status: 422, message: 'The plugin code declares something its manifest does not.' },
  PLUGIN_ENGINE_MISMATCH: { status: 422, message: "The plugin needs a Pincer version this one is not (its manifest's engine range)." },
  PLUGIN_ENTRY_MISSING: { status: 422, message: "The plugin's entry module does not exist (is it built?)." },
  PLUGIN_CONFIG_INVALID: { status: 422, message: "The plugin's settings do not match its config.json schema." },
  PLUGIN_CONFIG_MISSING: { status: 422, message: 'The config.json the manifest names cannot be read.' },
  PLUGIN_CONFIG_SCHEMA_INVALID: { status: 422, message: "The plugin's config.json is not a valid JSON Schema." },
  PLUGIN_INSTALL_INVALID: { status: 422, message: 'What was given to install is not a Pincer plugin package.' },
  PLUGIN_INSTALL_FAILED: { status: 422, message: 'npm install failed, or installed something Pincer cannot find.' },
  PLUGIN_INSTALL_EMPTY: { status: 422, message: 'The package installed but provides no Pincer plugin.' },
  // Plugins: loading and running
  PLUGIN_LOAD_FAILED: { status: 422, message: "The plugin's module could not be loaded in its thread." },
  PLUGIN_EXPORT_INVALID: { status: 422, message: 'The named export is not a plugin definition.' },
  PLUGIN_SETUP_FAILED: { status: 422, message: "The plugin's setup threw or did not finish." },
  PLUGIN_CRASHED: { status: 502, message: "The plugin's thread died." },
  PLUGIN_TIMEOUT: { status: 504, message: 'The plugin did not answer within its time budget.' },
  PLUGIN_CALL_FAILED: { status: 502, message: 'A plugin handler threw.' },
  PLUGIN_CALL_ABORTED: { status: 502, message: 'A call into or out of a plugin was aborted (shutdown, or the caller went away).' },
  PLUGIN_HANDLER_GONE: { status: 502, message: 'The plugin handler was disposed before the call reached it.' },
  PLUGIN_BAD_REPLY: { status: 502, message: 'A plugin handler returned a value of the wrong shape.' },
  PLUGIN_BAD_RESPONSE: { status: 502, message: 'A plugin HTTP route answered with a status Pincer does not pass on.' },
  // Plugins: services and host calls
  PLUGIN_SERVICE_CONFLICT: { status: 409, message: 'Another running plugin already provides this service.' },
  PLUGIN_SERVICE_UNDECLARED: { status: 403, message: "The service is not in the calling plugin's inject list." },
  PLUGIN_SERVICE_UNAVAILABLE: { status: 409, message: 'No running plugin provides the service (so a reload that needs it is refused).' },
  PLUGIN_SERVICE_NO_METHOD: { status: 404, message: 'The service has no method of this name.' },
  PLUGIN_HOST_METHOD_UNKNOWN: { status: 400, message: 'Pincer has no host method of this name (a plugin built for a newer Pincer?).' },
  PLUGIN_ENQUEUE_INVALID: { status: 400, message: 'A message a plugin enqueued is not valid; the message names the field.' },
  PLUGIN_MODEL_REQUEST_INVALID: { status: 400, message: 'A model request a plugin made is not valid; the message names the field.' },
  PLUGIN_MODEL_STREAM_INCOMPLETE: { status: 502, message: 'A model stream a plugin read ended without its finish part.' },

  // Channels (chat platforms and the generic webhook)
  CHANNEL_WEBHOOK_UNSIGNED: { status: 401, message: "A channel webhook call lacks its signature headers (Standard Webhooks' webhook-id, webhook-timestamp and webhook-signature; Slack's X-Slack-Signature and X-Slack-Request-Timestamp)." },
  CHANNEL_WEBHOOK_BAD_SIGNATURE: { status: 401, message: "No signature on a channel webhook call matches its body and the account's secret." },
  CHANNEL_WEBHOOK_STALE: { status: 401, message: "A channel webhook call's timestamp is further from now than the tolerance (5 minutes either way by default): a replay, or a clock that is off." },
  CHANNEL_WEBHOOK_UNAUTHORIZED: { status: 401, message: "A channel webhook call lacks the platform's secret header, or its value is not the account's webhook_secret (Telegram: X-Telegram-Bot-Api-Secret-Token)." },
  CHANNEL_WEBHOOK_VERIFY_REFUSED: { status: 403, message: "A platform's webhook verification handshake (WhatsApp's GET with hub.challenge) is not a subscription or carries a hub.verify_token other than the account's verify_token." },
  CHANNEL_WEBHOOK_INVALID: { status: 400, message: 'A channel webhook call carries a body the channel cannot read; the message names the field.' },
  CHANNEL_ACCOUNT_INVALID: { status: 500, message: "A channel account's settings cannot work (a secret or URL missing or malformed); the message names the setting." },
  CHANNEL_ERROR: { status: 502, message: "A channel plugin's platform call failed; its class (rate_limited, transient, permanent, ambiguous, unparsable) decides what the outbox does." },
  CHANNEL_NOT_FOUND: { status: 404, message: 'No channel with this id is configured (channels.<id>).' },
  CHANNEL_ACCOUNT_NOT_FOUND: { status: 404, message: 'The channel has no enabled account of this name (channels.<id>.accounts).' },
  CHANNEL_UNAVAILABLE: { status: 503, message: "The channel's plugin is not running (starting, reloading or disabled); retry shortly." },
  CHANNEL_TRANSPORT_MISMATCH: { status: 409, message: 'The account does not use the transport this route serves (a webhook call for a polling account).' },
  CHANNEL_SESSION_UNKNOWN: { status: 409, message: 'A poll loop reported for a transport session that was stopped or replaced.' },
  DELIVERY_NOT_FOUND: { status: 404, message: 'No outbox delivery with this id.' },
  DELIVERY_NOT_RETRYABLE: { status: 409, message: 'Only ambiguous, dead or failed deliveries can be retried.' },
  APPROVAL_NOT_FOUND: { status: 404, message: 'This sender has no pairing approval on this channel account.' },
  KB_DISABLED: { status: 404, message: 'The knowledge base is off (kb.enabled: false).' },
  KB_SOURCE_INVALID: { status: 400, message: 'The knowledge source is not one Pincer can add (give a file path on the server, or a file name and its content).' },
  KB_SOURCE_NOT_FOUND: { status: 404, message: 'No knowledge source with this id.' },
  TOOL_APPROVAL_NOT_FOUND: { status: 404, message: 'No tool-call approval with this id (it may have been purged after retention).' },
  TOOL_APPROVAL_DECIDED: { status: 409, message: 'This tool-call approval was decided already (or expired); a decision cannot be changed.' },
  PAIRING_NOT_FOUND: { status: 404, message: 'No live pairing request with this code on this channel (it expired, or was approved or denied).' },
  WEBCHAT_ORIGIN_REFUSED: { status: 403, message: 'The web chat is not offered to pages of this origin (channels.webchat.allowed_origins).' },
  WEBCHAT_SESSION_INVALID: { status: 401, message: 'The web chat session token is missing, malformed, expired or not signed by this bot.' },
  WEBCHAT_FORBIDDEN: { status: 403, message: "A web chat session may read and write only its own conversation's messages." },
  WEBCHAT_DISABLED: { status: 404, message: 'The web chat channel is not configured (channels.webchat.accounts).' },
  WEBCHAT_RATE_LIMITED: { status: 429, message: "A web chat visitor sent more messages than the account's rate allows (channels.webchat.accounts.<name>.rate); retry after the Retry-After header." },

  // Agent memory (docs/memory.md)
  MEMORY_DISABLED: { status: 404, message: 'Agent memory is turned off (memory.enabled: false).' },
  MEMORY_NO_SENDER: { status: 400, message: 'Facts are kept per sender, and this message names no sender.' },
  MEMORY_FACT_INVALID: { status: 400, message: 'A fact must be non-empty text no longer than memory.max_fact_length characters.' },
  MEMORY_FACTS_FULL: { status: 409, message: 'This sender has memory.max_facts facts already; forget one first.' },
  MEMORY_QUERY_INVALID: { status: 400, message: 'A memory search needs a query with at least one word.' },

  // Knowledge base (docs/knowledge.md)
  KB_FORMAT_UNSUPPORTED: { status: 415, message: 'The knowledge base does not read files of this type (.md .markdown .txt .html .htm .pdf .yaml .yml .json .csv).' },
  KB_FILE_TOO_LARGE: { status: 413, message: 'The knowledge file is larger than kb.max_file_size.' },
  KB_PARSE_FAILED: { status: 422, message: 'The knowledge file cannot be read as its format; the message names the file and, where known, the line or page.' },
  KB_PARSE_TIMEOUT: { status: 422, message: 'Parsing the knowledge file took longer than its time limit (a PDF that never ends, say).' },
  KB_TOO_MANY_CHUNKS: { status: 422, message: 'The knowledge file cuts into more chunks than kb.max_chunks allows (in the file, or with the rest of the knowledge base).' },

  // Command line, scaffolding, benchmark
  CLI_UNREACHABLE: { status: 503, message: 'The CLI cannot reach a running Pincer (pincer start; --url or PINCER_URL).' },
  CLI_USAGE: { status: 400, message: 'A command-line option or argument has a value the command cannot use.' },
  CLI_HTTP_ERROR: { status: 502, message: 'Pincer answered the CLI with an error the CLI does not know (a newer server?).' },
  SCAFFOLD_DIR_NOT_EMPTY: { status: 409, message: 'The target folder exists and is not empty.' },
  SCAFFOLD_NAME_INVALID: { status: 400, message: 'The project or plugin name is not valid.' },
  SCAFFOLD_VERSION_INVALID: { status: 400, message: 'The Pincer version is not semver.' },
  BENCH_UNAVAILABLE: { status: 500, message: 'The benchmark needs a source checkout with its dev dependencies.' },
  BENCH_UNKNOWN_SECTION: { status: 400, message: 'No benchmark section of this name.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

const CODES: ReadonlySet<string> = new Set(Object.keys(ERRORS));

/** Whether a string (from the wire, a plugin thread, a serialised error) is a catalogued code. */
export function isCatalogued(code: unknown): code is ErrorCode {
  return typeof code === 'string' && CODES.has(code);
}

/** A code from outside (another process, a plugin) as a catalogued one, or `fallback`. */
export function asErrorCode(code: unknown, fallback: ErrorCode): ErrorCode {
  return isCatalogued(code) ? code : fallback;
}
