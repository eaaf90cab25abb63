import path from 'node:path';
import type { Logger } from 'pino';
import type { KbConfig } from '../config/kb-schema.js';
import type { PincerConfig } from '../config/schema.js';
import type { ModelLayer } from '../models/setup.js';
import type { KnowledgeStore } from '../store/types.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Tool } from '../pipeline/types.js';
import { extractiveResponder, kbSearchTool, knowledgeContext, type KnowledgeAnswering } from './responders.js';
import type { KbEmbedder } from './retrieval.js';
import { KnowledgeBase } from './service.js';

/**
 * The vector leg's weight when the embedding is the built-in hashed one: it is lexical (no
 * synonyms), and on the Debian FAQ fusing it 1:1 with BM25 lost recall while 1:0.25 cost
 * little (design note §3.5); a model's embedding gets a full weight.
 */
export const HASHED_VECTOR_WEIGHT = 0.25;

/** The embedding the knowledge base's vectors come from, named by its deployments so a change of model is a new index. */
export function kbEmbedder(config: PincerConfig, models: Pick<ModelLayer, 'embeddings' | 'embeddingDeployments'>): KbEmbedder {
  const deployments = models.embeddingDeployments;
  const builtIn = deployments.every((d) => d.provider === 'local');
  return {
    key: deployments.map((d) => `${d.provider}/${d.model}`).join('+') || 'local/hashed',
    model: models.embeddings,
    weight: config.kb.vector_weight ?? (builtIn ? HASHED_VECTOR_WEIGHT : 1),
  };
}

/** The knowledge base `kb:` describes, or undefined when it is off. */
export function createKnowledgeBase(config: PincerConfig, store: KnowledgeStore, models: Pick<ModelLayer, 'embeddings' | 'embeddingDeployments'>, log: Logger): KnowledgeBase | undefined {
  if (!config.kb.enabled) return undefined;
  return new KnowledgeBase({
    store,
    dir: path.resolve(config.kb.dir ?? path.join(config.data_dir, 'knowledge')),
    watch: config.kb.watch,
    embedder: kbEmbedder(config, models),
    limits: {
      maxFileBytes: config.kb.max_file_size,
      maxChunks: config.kb.max_chunks,
      targetTokens: config.kb.chunk_tokens,
      overlapTokens: config.kb.chunk_overlap,
      parseTimeoutMs: config.kb.parse_timeout,
    },
    log,
  });
}

/** Passages a model's kb_search may ask for. */
const MAX_TOOL_PASSAGES = 20;

/**
 * How the knowledge base answers, as registrations (disposers) and the model responder's
 * option: without a language model an extractive responder before the built-in model; with
 * one, passages in the prompt (`context`) and the kb_search tool.
 */
export function wireKnowledge(
  kb: KnowledgeBase | undefined,
  deps: { registry: PipelineRegistry; store: KnowledgeStore; config: KbConfig; withModel: boolean; log: Logger },
): { disposers: Array<() => void>; context?: ReturnType<typeof knowledgeContext>; offered: (tools: ReadonlyMap<string, Tool>) => ReadonlyMap<string, Tool> } {
  const all = (tools: ReadonlyMap<string, Tool>) => tools;
  if (!kb) return { disposers: [], offered: all };
  const answering: KnowledgeAnswering = { kb, store: deps.store, minCoverage: deps.config.min_coverage, contextChunks: deps.config.context_chunks, log: deps.log };
  if (!deps.withModel) return { disposers: [deps.registry.addResponder(extractiveResponder(answering))], offered: all };
  const tool = kbSearchTool(kb, MAX_TOOL_PASSAGES);
  // An empty knowledge base offers nothing to search: kb_search would only make every answer a tool loop.
  const offered = (tools: ReadonlyMap<string, Tool>) => {
    if (kb.lastKnownNonEmpty || !tools.has(tool.name)) return tools;
    const without = new Map(tools);
    without.delete(tool.name);
    return without;
  };
  return { disposers: [deps.registry.addTool(tool)], context: knowledgeContext(answering), offered };
}
