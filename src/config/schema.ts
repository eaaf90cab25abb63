import { z } from 'zod';
import { channelsSchema } from './channels.js';
import { durationSchema } from './duration-schema.js';
import { kbSchema } from './kb-schema.js';
import { toolsSchema } from './tools-schema.js';

const duration = durationSchema;

const positiveInt = (fallback: number) => z.number().int().positive().default(fallback);

const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7700),
    /** Largest request body accepted, in bytes. */
    body_limit: positiveInt(1_048_576),
    /** Longest message text accepted, in characters. */
    max_text_length: positiveInt(32_768),
    /** Longest `?wait=` a client may ask for, and what the CLI's --wait uses by default. */
    max_wait: duration('60s'),
  })
  .strict()
  .prefault({});

const authSchema = z
  .object({
    tokens: z.array(z.string().min(8, 'a token must be at least 8 characters')).default([]),
    admin_tokens: z.array(z.string().min(8, 'a token must be at least 8 characters')).default([]),
  })
  .strict()
  .prefault({});

const queueSchema = z
  .object({
    max_length: positiveInt(10_000),
    max_length_cap: positiveInt(100_000),
    retry_delay: duration('5s'),
    /** Backoff multiplier applied to retry_delay for each further attempt. */
    retry_backoff: z.number().min(1).default(2),
    max_retry_delay: duration('5m'),
    max_attempts: positiveInt(5),
    /** How long a claimed message stays leased to a worker before it is re-delivered. */
    lease: duration('30s'),
    /** How long finished (done) messages are kept for history before they are purged. */
    retention: duration('30d'),
    /**
     * Anti-starvation: a normal (low) message that has waited this long ranks as high as a
     * high-priority message that has just arrived.
     */
    aging: z
      .object({ normal: duration('10s'), low: duration('60s') })
      .strict()
      .prefault({}),
    /** Most enqueues written in one group-commit transaction. */
    commit_batch: positiveInt(512),
    /** Deepest nesting of a message's `metadata` (objects and arrays) the store accepts. */
    max_metadata_depth: positiveInt(32),
    /** Largest `metadata`, serialised as JSON, in bytes. */
    max_metadata_bytes: positiveInt(65_536),
  })
  .strict()
  .prefault({});

const workersSchema = z
  .object({
    /** false runs this node API-only: messages are stored and wait for a node with workers. */
    enabled: z.boolean().default(true),
    /** Concurrent workers at start; the autoscaler moves it between autoscale.min and max. */
    concurrency: positiveInt(32),
    shutdown_timeout: duration('10s'),
    /** Time budget of one analyzer, hook or responder call on one message. */
    stage_timeout: duration('30s'),
    /** Worker autoscaling (S3.2); the policy is in docs/operations.md#autoscaling. */
    autoscale: z
      .object({
        enabled: z.boolean().default(true),
        min: positiveInt(4),
        max: positiveInt(256),
        /** How often the policy runs, on the metrics' one-second sample (so at least 1 s). */
        interval: duration('1s'),
        /** Ticks of backlog (with the workers saturated) before scaling up, and of slack before scaling down. */
        up_after: positiveInt(2),
        down_after: positiveInt(10),
        /** Strain limits: above them the autoscaler never scales up. */
        max_event_loop_lag: duration('100ms'),
        max_cpu: z.number().gt(0).max(1).default(0.95),
        max_memory: z.number().gt(0).max(1).default(0.85),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.autoscale.max < w.autoscale.min) ctx.addIssue({ code: 'custom', path: ['autoscale', 'max'], message: `must be at least workers.autoscale.min (${w.autoscale.min})` });
    else if (w.autoscale.enabled && (w.concurrency < w.autoscale.min || w.concurrency > w.autoscale.max)) {
      ctx.addIssue({ code: 'custom', path: ['concurrency'], message: `must be within workers.autoscale.min and max (${w.autoscale.min}..${w.autoscale.max}) while autoscaling is enabled` });
    }
  })
  .prefault({});

const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** One line per HTTP request (never for /health). */
    access: z.boolean().default(true),
  })
  .strict()
  .prefault({});

const botSchema = z
  .object({ name: z.string().min(1).default('Pincer') })
  .strict()
  .prefault({});

const pluginsSchema = z
  .object({
    /** Project folder whose node_modules/ and plugins/ are scanned; relative to the working folder. */
    root: z.string().min(1).default('.'),
    /** Also scan the plugins shipped with Pincer itself (commands, sentiment, language, translation). */
    bundled: z.boolean().default(true),
    /** Plugins that run; `pincer plugin enable|disable` changes this at run time (kept in <data_dir>/plugins.json). */
    enabled: z.array(z.string().min(1)).default(['commands', 'sentiment', 'language', 'translation']),
    /** Each plugin's settings by plugin name, checked against its config.json schema. */
    config: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /** Time budget of a plugin's setup, HTTP route or service call (pipeline calls use workers.stage_timeout). */
    call_timeout: duration('10s'),
    /** How long an old generation may keep finishing in-flight messages after a reload or disable. */
    drain_timeout: duration('60s'),
    /** Consecutive failed calls (errors, timeouts, crashes) after which a plugin is disabled. */
    max_failures: positiveInt(5),
    /** Heap limit of each plugin thread, in MB. */
    memory_limit: positiveInt(256),
  })
  .strict()
  .prefault({});

const PROVIDERS = ['local', 'openai', 'openai-compatible', 'anthropic', 'gemini', 'ollama', 'llama-cpp'] as const;

const deploymentSchema = z
  .object({
    provider: z.enum(PROVIDERS),
    /** The vendor's model name; the local model ignores it. */
    model: z.string().min(1).optional(),
    /** Server root for openai-compatible and ollama (and to override a vendor's endpoint). */
    base_url: z.string().url().optional(),
    /** Falls back to the vendor's usual variable (OPENAI_API_KEY, ...) and then API_KEY. */
    api_key: z.string().min(1).optional(),
    /** llama-cpp: the GGUF file to run in-process (relative to the working folder). */
    path: z.string().regex(/\.gguf$/i, 'expected the path of a .gguf file').optional(),
    /** llama-cpp: tokens per conversation (prompt and reply); default 4096, capped at the model's. */
    context_size: z.number().int().min(16).optional(),
    id: z.string().min(1).optional(),
    priority: z.number().int().min(0).default(0),
    weight: z.number().positive().default(1),
    /** USD per million input and output tokens, for cost accounting. */
    cost: z.object({ input: z.number().min(0), output: z.number().min(0) }).strict().optional(),
  })
  .strict();

/** The tool loop's bounds (src/agent/): how long a model may keep calling tools for one message. */
const agentSchema = z
  .object({
    /** Model calls per message, the final tool-free one included. */
    max_steps: positiveInt(8),
    /** Tool calls per message, all steps together. */
    max_tool_calls: positiveInt(16),
    time_budget: duration('120s'),
    /** Input plus output tokens per message; unset: no limit beyond the steps. */
    token_budget: z.number().int().positive().optional(),
    /** The same tool with the same arguments a third time is blocked; a second block ends the run. */
    loop_detection: z.boolean().default(true),
    /** A tool's limit when it declares none. */
    tool_timeout: duration('30s'),
  })
  .strict()
  .prefault({});

/**
 * Agent memory (docs/memory.md): search over a conversation's older turns, facts per sender,
 * summaries of the turns that fall out of the history window. Only with a language model:
 * the built-in model reads no prompt, so it gets no memory tools and no summaries.
 */
const memorySchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Offer memory_search, memory_save and memory_forget to the language model (every answer then runs the tool loop). */
    tools: z.boolean().default(true),
    /** Facts pinned into each prompt, in approximate tokens; the most relevant and newest first. */
    facts_tokens: z.number().int().min(0).default(300),
    /** Facts kept per sender (channel identity); /remember past it is refused until one is forgotten. */
    max_facts: positiveInt(50),
    /** Longest fact, in characters. */
    max_fact_length: positiveInt(500),
    /** Results memory_search returns when the model names no limit, and the most it may ask for. */
    search_limit: positiveInt(5),
    max_search_limit: positiveInt(20),
    /** Turns indexed per transaction; a search writes at most 8 such batches first (the rest catch up over later searches). */
    index_batch: positiveInt(500),
    summaries: z
      .object({
        enabled: z.boolean().default(true),
        /** Raw turns per summary: each block of this many turns older than the history window gets one summary. */
        block_turns: positiveInt(20),
        /** Summaries pinned into each prompt, in approximate tokens; the newest first. */
        tokens: z.number().int().min(0).default(600),
        /** Longest summary asked of the model, in tokens. */
        max_tokens: positiveInt(300),
        /** Conversations summarised at once by this node. */
        concurrency: positiveInt(1),
        /** Blocks one run may summarise before it yields (a long backlog is caught up over later replies). */
        max_blocks_per_run: positiveInt(4),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const modelsSchema = z
  .object({
    /**
     * The deployments answering free text, tried by priority then weight. Empty: taken from
     * the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OLLAMA_HOST), else the
     * built-in local model.
     */
    default: z.array(deploymentSchema).default([]),
    /**
     * The deployments answering POST /v1/embeddings, tried like `default`. Empty: the built-in
     * hashed embedding (and MODEL_PATH's GGUF model first, when set).
     */
    embeddings: z.array(deploymentSchema).default([]),
    system_prompt: z.string().default('You are {bot}, a helpful assistant in a chat. Answer briefly and plainly.'),
    /** Earlier turns sent with each message, in approximate tokens (newest first until spent). */
    history_tokens: z.number().int().min(0).default(2000),
    /**
     * Sampling temperature the bot's model responder asks for; unset: each vendor's default.
     * 0 makes replies repeatable, and so cacheable (models.cache). An OpenAI client's
     * `temperature` overrides it for its message.
     */
    temperature: z.number().min(0).max(2).optional(),
    /** Longest reply the model responder asks for, in tokens; unset: the vendor's default. An OpenAI client's `max_tokens` overrides it. */
    max_tokens: z.number().int().positive().optional(),
    router: z
      .object({
        attempts_per_deployment: positiveInt(2),
        max_attempts: positiveInt(4),
        backoff: duration('500ms'),
        max_backoff: duration('8s'),
        max_retry_after: duration('10s'),
        cooldown_after: positiveInt(3),
        cooldown: duration('30s'),
        timeout: duration('60s'),
        first_token_timeout: duration('20s'),
        chunk_timeout: duration('20s'),
      })
      .strict()
      .prefault({}),
    cache: z
      .object({ max_entries: z.number().int().min(0).default(1000), ttl: duration('1h') })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type DeploymentConfig = z.output<typeof deploymentSchema>;

/** `pincer model serve`: the local models as an OpenAI-compatible service of their own (S2.3). */
const modelServiceSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7701),
    /** Bearer tokens clients must send; required when binding beyond loopback. */
    tokens: z.array(z.string().min(8, 'a token must be at least 8 characters')).default([]),
    /** Generations running at once per model; more wait their turn (a 429 past `max_waiting`). */
    concurrency: positiveInt(2),
    max_waiting: positiveInt(64),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    data_dir: z.string().min(1).default('./data'),
    /** `sqlite:<path>` or `postgres://...`; defaults to sqlite:<data_dir>/pincer.db. */
    store: z
      .string()
      .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'expected "sqlite:<path>" or "postgres://user@host/db"')
      .optional(),
    server: serverSchema,
    auth: authSchema,
    queue: queueSchema,
    workers: workersSchema,
    log: logSchema,
    bot: botSchema,
    plugins: pluginsSchema,
    models: modelsSchema,
    agent: agentSchema,
    tools: toolsSchema,
    kb: kbSchema,
    memory: memorySchema,
    model_service: modelServiceSchema,
    channels: channelsSchema,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.queue.max_length_cap < cfg.queue.max_length) {
      ctx.addIssue({
        code: 'custom',
        path: ['queue', 'max_length_cap'],
        message: `must be at least queue.max_length (${cfg.queue.max_length})`,
      });
    }
  });

export type PincerConfig = z.output<typeof configSchema>;
export type PincerConfigInput = z.input<typeof configSchema>;
