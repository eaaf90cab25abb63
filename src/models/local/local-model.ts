import type { JsonObject } from '../../json.js';
import type { AnalysisResult, EmbeddingModel, EmbedRequest, EmbedResult, GenerateRequest, GenerateResult, NLPModel, StreamPart, ToolDefinition } from '../types.js';
import { hashedEmbedding } from './hashed-embedding.js';
import { FALLBACK_REPLY, INTENTS, type Intent } from './corpus.js';
import { NaiveBayes } from './naive-bayes.js';
import { words } from './text.js';
import { unsupportedSettings, withWarnings } from '../warnings.js';
import { ToolIndex } from './tool-index.js';
import { decide, pendingFrom, renderResults } from './tool-turn.js';

export interface LocalModelOptions {
  botName: string;
  version: string;
  /** Below this confidence the model says what it cannot do instead of guessing. */
  minConfidence?: number;
  /** Below this confidence a message is not routed to a tool (default TOOL_MIN_CONFIDENCE, tuned on labelled phrases). */
  toolMinConfidence?: number;
  intents?: Readonly<Record<string, Intent>>;
}

const DEFAULT_MIN_CONFIDENCE = 0.45;

/**
 * What the built-in model reads from `providerOptions.local`: the pipeline's analysis of the
 * message (sentiment, language), which changes its tone. Only this model reads it.
 */
export interface LocalProviderOptions {
  analysis?: JsonObject;
  /** A tool call its last reply asked arguments for (`reply.data.pendingTool`), for the follow-up to complete. */
  pending?: JsonObject;
}

/** Tool sets whose index is kept: plugins change them seldom, so a few cover every request. */
const INDEX_CACHE_SIZE = 8;


/**
 * The built-in model: a real classifier trained at start-up on the corpus, answering from
 * templates. It needs no key and no download, so a fresh `npm start` answers sensibly, and it
 * says plainly when a question is beyond it.
 */
export class LocalModel implements NLPModel, EmbeddingModel {
  readonly id = 'local/intents';
  readonly provider = 'local';
  private readonly classifier: NaiveBayes;
  private readonly intents: Readonly<Record<string, Intent>>;
  private readonly minConfidence: number;
  /** Each tool set's index, by the set's definitions (examples, schemas): built once, not per message. */
  private readonly indexes = new Map<string, ToolIndex>();

  constructor(private readonly options: LocalModelOptions) {
    this.intents = options.intents ?? INTENTS;
    this.minConfidence = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
    this.classifier = new NaiveBayes().train(Object.entries(this.intents).flatMap(([label, intent]) => intent.examples.map((text) => ({ text, label }))));
  }

  async analyze(text: string): Promise<AnalysisResult> {
    return this.classify(text);
  }

  /** Hashed word and trigram vectors (see hashed-embedding.ts): offline, instant, lexical. */
  async doEmbed(request: EmbedRequest): Promise<EmbedResult> {
    request.signal?.throwIfAborted();
    return {
      embeddings: request.values.map((text) => hashedEmbedding(text)),
      usage: { inputTokens: request.values.reduce((n, text) => n + words(text).length, 0) },
    };
  }

  /**
   * Answers the last user text from its templates, or, offered tools that declare examples,
   * calls the one the text asks for (tool-index.ts), asks for the arguments it lacks, and
   * makes the reply of a tool's result once it is back. `maxTokens` cuts a templated reply (a
   * token is a word here, as in its usage); a temperature other than 0 cannot be honoured,
   * nor tools without examples, and say so in `warnings`.
   */
  async doGenerate(request: GenerateRequest): Promise<GenerateResult> {
    request.signal?.throwIfAborted();
    const usage = (reply: string) => ({ inputTokens: request.messages.reduce((n, m) => n + words(m.content).length, 0), outputTokens: words(reply).length });
    const routable = request.toolChoice === 'none' ? [] : (request.tools ?? []).filter((t) => (t.examples?.length ?? 0) > 0);
    const warnings = unsupportedSettings(request, {
      ...(request.temperature !== 0 && { temperature: `the built-in model always answers as at temperature 0; ${request.temperature} was ignored` }),
      ...(routable.length === 0 && { tools: 'the built-in model calls only tools that declare examples, and none of these does; it answered in text' }),
      ...((request.toolChoice === 'required' || typeof request.toolChoice === 'object') && { toolChoice: 'the built-in model calls a tool only when a message matches its examples' }),
    });
    const results = renderResults(request.messages);
    if (results !== undefined) return { text: results, finishReason: 'stop', usage: usage(results), data: { intent: 'tool_result', model: this.id }, ...withWarnings(warnings) };

    const last = [...request.messages].reverse().find((m) => m.role === 'user');
    const text = last?.content ?? '';
    const result = this.classify(text);
    const understood = result.confidence >= this.minConfidence;
    if (routable.length > 0) {
      const local = request.providerOptions?.local as LocalProviderOptions | undefined;
      const pending = pendingFrom(local?.pending);
      const decision = decide({ index: this.indexFor(routable), text, understood, ...(pending ? { pending } : {}), ...(this.options.toolMinConfidence !== undefined ? { minConfidence: this.options.toolMinConfidence } : {}) });
      if (decision.kind === 'call') {
        const args = JSON.stringify(decision.args);
        const toolCall = { id: `local-${hash(`${decision.tool}\u0000${args}\u0000${request.messages.length}`).toString(36)}`, name: decision.tool, arguments: args };
        const data: JsonObject = { intent: `tool:${decision.tool}`, confidence: round(decision.confidence), model: this.id };
        return { text: '', toolCalls: [toolCall], finishReason: 'tool-calls', usage: usage(''), data, ...withWarnings(warnings) };
      }
      if (decision.kind === 'ask') {
        const data: JsonObject = { intent: `tool:${decision.pending.tool}`, confidence: round(decision.confidence), model: this.id, pendingTool: { ...decision.pending } };
        return { text: decision.question, finishReason: 'stop', usage: usage(decision.question), data, ...withWarnings(warnings) };
      }
    }

    const analysis = (request.providerOptions?.local as LocalProviderOptions | undefined)?.analysis;
    const whole = understood ? this.render(result.intent, text, analysis) : FALLBACK_REPLY;
    const pieces = whole.match(/\S+\s*/g) ?? [];
    const cut = request.maxTokens !== undefined && request.maxTokens < pieces.length;
    const reply = cut ? pieces.slice(0, Math.max(0, request.maxTokens as number)).join('').trimEnd() : whole;
    const data: JsonObject = { intent: understood ? result.intent : 'unknown', confidence: round(result.confidence), model: this.id };
    return {
      text: reply,
      finishReason: cut ? 'length' : 'stop',
      usage: usage(reply),
      data,
      ...withWarnings(warnings),
    };
  }

  async *doStream(request: GenerateRequest): AsyncIterable<StreamPart> {
    const { text, toolCalls, ...rest } = await this.doGenerate(request);
    // Word by word, as a remote model would stream, so clients see the same shape of events.
    for (const piece of text.match(/\S+\s*/g) ?? []) {
      request.signal?.throwIfAborted();
      yield { type: 'text-delta', delta: piece };
    }
    for (const toolCall of toolCalls ?? []) yield { type: 'tool-call', toolCall };
    yield { type: 'finish', ...rest };
  }

  /** The index of this tool set, built on first use and kept for the next messages. */
  private indexFor(tools: readonly ToolDefinition[]): ToolIndex {
    const key = JSON.stringify(tools.map((t) => [t.name, t.examples, t.parameters]));
    let index = this.indexes.get(key);
    if (!index) {
      index = new ToolIndex(tools, this.intents);
      if (this.indexes.size >= INDEX_CACHE_SIZE) this.indexes.delete(this.indexes.keys().next().value as string);
      this.indexes.set(key, index);
    }
    return index;
  }

  /**
   * Confidence is the posterior of the best intent, discounted by how much of the text the
   * model has ever seen: naive Bayes is sure of something even for text it knows nothing of.
   */
  private classify(text: string): AnalysisResult {
    const prediction = this.classifier.predict(text);
    const discount = Math.sqrt(prediction.coverage);
    const ranked = prediction.ranked.map((r) => ({ intent: r.label, confidence: r.probability * discount }));
    const best = ranked[0] as { intent: string; confidence: number };
    return { intent: best.intent, confidence: best.confidence, alternatives: ranked.slice(1, 4).map((r) => ({ intent: r.intent, confidence: round(r.confidence) })), coverage: round(prediction.coverage) };
  }

  private render(intent: string, text: string, analysis: Readonly<JsonObject> | undefined): string {
    const replies = this.intents[intent]?.replies ?? [FALLBACK_REPLY];
    // The same text gets the same reply: deterministic for tests, varied across messages.
    const template = replies[hash(text) % replies.length] as string;
    const body = template.replace(/\{bot\}/g, this.options.botName).replace(/\{version\}/g, this.options.version);
    return prefixFor(analysis) + body;
  }
}

/** What the analyzers found changes the tone: sympathy for a negative message, a note on language. */
function prefixFor(analysis: Readonly<JsonObject> | undefined): string {
  let prefix = '';
  const sentiment = analysis?.sentiment as { label?: unknown } | undefined;
  if (sentiment?.label === 'negative') prefix += 'I am sorry if something is frustrating. ';
  const language = analysis?.language as { code?: unknown; name?: unknown } | undefined;
  if (typeof language?.code === 'string' && language.code !== 'en' && language.code !== 'und') {
    prefix += `(I understand English best; your message looks like ${typeof language.name === 'string' ? language.name : language.code}.) `;
  }
  return prefix;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
