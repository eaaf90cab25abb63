import { z } from 'zod';
import { durationSchema } from './duration-schema.js';

/**
 * `kb:`: the knowledge base (src/kb/, docs/knowledge.md): where its files are, how they are cut
 * and bounded, and when retrieval's best passage counts as an answer.
 */
export const kbSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The knowledge folder; unset: <data_dir>/knowledge. Every file in it is a source. */
    dir: z.string().min(1).optional(),
    /** Re-index on changes in the folder (else on POST /v1/admin/kb/reindex and at start). */
    watch: z.boolean().default(true),
    /** Largest file read, in bytes. */
    max_file_size: z.number().int().positive().default(20 * 1024 * 1024),
    /** Chunks in the whole knowledge base. */
    max_chunks: z.number().int().positive().default(200_000),
    /** A chunk's target size and the overlap between the pieces of a long section, in approximate tokens. */
    chunk_tokens: z.number().int().min(50).max(4000).default(400),
    chunk_overlap: z.number().int().min(0).max(1000).default(60),
    /** A PDF's (or any file's) parse is given up after this long; it runs in a worker thread. */
    parse_timeout: durationSchema('30s'),
    /**
     * The share of a question's words (IDF-weighted) the best passage must have to be an
     * answer. 0.55: between the thresholds `pincer kb eval --tune` chose on the two development
     * sets (0.45 on the Debian FAQ, 0.62 on the product docs of test/fixtures/kb).
     */
    min_coverage: z.number().min(0).max(1).default(0.55),
    /** The vector ranking's weight in fusion; unset: 0.25 for the built-in hashed embedding, 1 for a model's. */
    vector_weight: z.number().min(0).max(4).optional(),
    /** Passages given to a language model with a question. */
    context_chunks: z.number().int().min(1).max(20).default(4),
  })
  .strict()
  .prefault({});

export type KbConfig = z.output<typeof kbSchema>;
