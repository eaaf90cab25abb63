import type { JsonObject } from '../json.js';

/**
 * The contract every model provider implements, after the Vercel AI SDK's provider spec: one
 * small `doGenerate` / `doStream` pair per vendor, with retries, fallbacks and caching layered
 * on top by whoever calls them, never inside a provider.
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** On an assistant message: the tools it asked to call (its `content` may then be empty). */
  toolCalls?: readonly ToolCall[];
  /** On a tool message: which call this is the result of. */
  toolCallId?: string;
  /** On a tool message: the tool's name (Gemini and Ollama match results by name, not id). */
  toolName?: string;
}

/** A function the model may ask to call; `parameters` is a JSON Schema for its arguments. */
export interface ToolDefinition {
  name: string;
  description?: string;
  parameters: JsonObject;
  /** Phrases with `{slot}`s that ask for it: only the built-in model reads them (vendors are never sent them). */
  examples?: readonly string[];
}

export interface ToolCall {
  /** The vendor's id for the call, or one made up where the vendor has none (Gemini, Ollama). */
  id: string;
  name: string;
  /** The arguments as JSON text, exactly as the model wrote them: it may not parse. */
  arguments: string;
}

/** `auto`: the model decides; `none`: text only; `required`: some tool; `{name}`: that tool. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * Options for one provider, keyed by its name (`local`, `openai`, ...), as the AI SDK's
 * `providerOptions`: each provider reads its own key and ignores the others'. They shape the
 * answer, so the response cache keys on them.
 */
export type ProviderOptions = Readonly<Record<string, Readonly<JsonObject>>>;

/** The call settings a provider may be unable to honour (the request's own field names). */
export type CallSetting = 'maxTokens' | 'temperature' | 'tools' | 'toolChoice';

export interface GenerateRequest {
  messages: readonly ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  tools?: readonly ToolDefinition[];
  toolChoice?: ToolChoice;
  providerOptions?: ProviderOptions;
  signal?: AbortSignal;
}

/**
 * What a provider could not do as asked, after the AI SDK's call warnings: the call still
 * answered, but without (or with a changed) setting. Never silently dropped: they reach the
 * reply's data and the log.
 */
export type CallWarning =
  | { type: 'unsupported-setting'; setting: CallSetting; details?: string }
  | { type: 'other'; message: string };

export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'error';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface GenerateResult {
  text: string;
  /** Present when the model asked for tools (finishReason is then `tool-calls`). */
  toolCalls?: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  /** Provider-specific extras worth keeping with the reply (e.g. the local model's intent). */
  data?: JsonObject;
  /** Settings the provider could not honour; absent when it honoured them all. */
  warnings?: CallWarning[];
}

/**
 * A stream is text deltas and whole tool calls (vendors stream a call's arguments in pieces;
 * providers assemble them, since a half call is of no use to anyone), then exactly one
 * `finish`; a stream that ends without it failed.
 */
export type StreamPart =
  | { type: 'text-delta'; delta: string }
  | { type: 'tool-call'; toolCall: ToolCall }
  | ({ type: 'finish' } & Omit<GenerateResult, 'text' | 'toolCalls'>);

/** The seed's `NLPModel.analyze(text)` result. */
export interface AnalysisResult {
  /** What the text asks for, as the model understands it. */
  intent: string;
  /** 0..1 */
  confidence: number;
  /** Other intents in descending confidence. */
  alternatives: Array<{ intent: string; confidence: number }>;
  /** Words of the text the model knows, 0..1: low means the text is outside what it was trained on. */
  coverage: number;
}

export interface LanguageModel {
  /** Stable id, e.g. "local/intents" or "openai/gpt-4o-mini". */
  readonly id: string;
  readonly provider: string;
  doGenerate(request: GenerateRequest): Promise<GenerateResult>;
  doStream(request: GenerateRequest): AsyncIterable<StreamPart>;
  /** Get ready for the first call (open connections, check the key, load weights); optional. */
  warmUp?(signal: AbortSignal): Promise<void>;
}

export interface EmbedRequest {
  values: readonly string[];
  signal?: AbortSignal;
}

export interface EmbedResult {
  /** One vector per value, in order. */
  embeddings: number[][];
  usage: { inputTokens: number };
}

/** Text to vectors; a separate model from chat at every vendor (e.g. text-embedding-3-small). */
export interface EmbeddingModel {
  readonly id: string;
  readonly provider: string;
  doEmbed(request: EmbedRequest): Promise<EmbedResult>;
  warmUp?(signal: AbortSignal): Promise<void>;
}

export interface NLPModel extends LanguageModel {
  analyze(text: string): Promise<AnalysisResult>;
}
