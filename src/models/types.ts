import type { JsonObject } from '../queue/types.js';

/**
 * The contract every model provider implements, after the Vercel AI SDK's provider spec: one
 * small `doGenerate` / `doStream` pair per vendor, with retries, fallbacks and caching layered
 * on top by whoever calls them, never inside a provider.
 */

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface GenerateRequest {
  messages: readonly ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  /** What the pipeline's analyzers found on the message being answered (sentiment, language). */
  analysis?: Readonly<JsonObject>;
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'error';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface GenerateResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  /** Provider-specific extras worth keeping with the reply (e.g. the local model's intent). */
  data?: JsonObject;
}

/** A stream is text deltas, then exactly one `finish`; a stream that ends without it failed. */
export type StreamPart = { type: 'text-delta'; delta: string } | ({ type: 'finish' } & Omit<GenerateResult, 'text'>);

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

export interface NLPModel extends LanguageModel {
  analyze(text: string): Promise<AnalysisResult>;
}
