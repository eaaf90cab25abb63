import { writeFile } from 'node:fs/promises';

/**
 * A writer for tiny GGUF v3 files: a llama-architecture model with seeded random weights that
 * llama.cpp loads and runs. No weights can be downloaded where the tests run, and a real model
 * would be hundreds of MB anyway; the tests of the local provider need a file llama.cpp accepts,
 * not one that says anything sensible. Random weights produce random tokens, so tests assert
 * lifecycle, token counts and streaming, never the words.
 *
 * The layout (ggml's docs/gguf.md; llama.cpp's gguf-py writes the same):
 *
 *   header:       "GGUF" | u32 version (3) | u64 tensor count | u64 metadata count
 *   metadata:     per key: string key | u32 value type | value
 *   tensor infos: per tensor: string name | u32 n_dims | u64 dims[n_dims] | u32 ggml type | u64 offset
 *   padding to `general.alignment`, then the tensor data, each tensor at its offset (relative
 *   to the start of the data, itself a multiple of the alignment).
 *
 * Strings are a u64 byte length and UTF-8 bytes (no terminator); everything is little-endian.
 * Dims are innermost first (ggml's ne[0] is the row length), so a matrix multiplying an
 * n_embd vector into n_ff outputs is [n_embd, n_ff].
 */

export interface TinyGgufOptions {
  /** Seed of the weights; the same seed writes the same bytes. */
  seed?: number;
  embeddingLength?: number;
  layers?: number;
  heads?: number;
  feedForwardLength?: number;
  contextLength?: number;
  /** A `tokenizer.chat_template` (Jinja) to embed; without one, node-llama-cpp falls back to a generic wrapper. */
  chatTemplate?: string;
  name?: string;
}

export interface TinyGgufInfo {
  vocabSize: number;
  embeddingLength: number;
  contextLength: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** GGUF metadata value types (gguf.md `gguf_metadata_value_type`). */
const enum ValueType {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

/** llama.cpp's token types (`llama_token_type`): what the tokenizer may produce and how to print it. */
const enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  BYTE = 6,
}

const GGML_TYPE_F32 = 0;
const ALIGNMENT = 32;

/** What the metadata section holds; arrays are homogeneous, as GGUF requires. */
type MetaValue =
  | { type: ValueType.UINT32 | ValueType.INT32 | ValueType.FLOAT32; value: number }
  | { type: ValueType.BOOL; value: boolean }
  | { type: ValueType.STRING; value: string }
  | { type: ValueType.ARRAY; itemType: ValueType.STRING; value: readonly string[] }
  | { type: ValueType.ARRAY; itemType: ValueType.FLOAT32 | ValueType.INT32; value: readonly number[] };

interface Tensor {
  name: string;
  /** Innermost first. */
  dims: number[];
  data: Float32Array;
}

const u32 = (value: number): MetaValue => ({ type: ValueType.UINT32, value });
const f32 = (value: number): MetaValue => ({ type: ValueType.FLOAT32, value });
const str = (value: string): MetaValue => ({ type: ValueType.STRING, value });

/**
 * A SentencePiece-style ("llama") vocabulary: llama.cpp's simplest tokenizer to satisfy. It
 * needs `<unk>`, `<s>`, `</s>` and the 256 byte-fallback tokens `<0xNN>` (text with a character
 * the vocabulary lacks is spelled in bytes; without them llama.cpp aborts on such text). Spaces
 * are `▁` (U+2581) glued to the next word, as SentencePiece writes them. The score orders the
 * merges: the tokenizer joins the adjacent pair whose joined piece has the highest score.
 */
function vocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TokenType.BYTE);
  }
  const pieces = new Set<string>(['▁']);
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?\'":;-()';
  for (const c of chars) pieces.add(c);
  for (const c of 'abcdefghijklmnopqrstuvwxyz') pieces.add(`▁${c}`);
  const words = 'the be to of and in that have it for not on with he as you do at this but his by from they we say her she or an will my one all would there their what so up out if about who get which go me when make can like time no just him know take people into year your good some could them see other than then now look only come its over think also back after use two how our work first well way even new want because any these give day most us hello hi ok yes'.split(' ');
  for (const w of words) pieces.add(`▁${w}`);
  for (const p of pieces) {
    tokens.push(p);
    types.push(TokenType.NORMAL);
  }
  // Longer pieces score higher so whole words win over letter pairs; bytes and controls score 0.
  const scores = tokens.map((t, i) => (types[i] === TokenType.NORMAL ? -1000 + [...t].length * 10 - i / 1000 : 0));
  return { tokens, scores, types };
}

/** mulberry32: a tiny seeded PRNG, so the same seed gives the same file on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the model to `path` and returns its shape (what tests assert against). */
export async function writeTinyGguf(path: string, options: TinyGgufOptions = {}): Promise<TinyGgufInfo> {
  const { bytes, info } = tinyGguf(options);
  await writeFile(path, bytes);
  return info;
}

/** The file's bytes, in memory. */
export function tinyGguf(options: TinyGgufOptions = {}): { bytes: Buffer; info: TinyGgufInfo } {
  const nEmbd = options.embeddingLength ?? 64;
  const nLayers = options.layers ?? 2;
  const nHead = options.heads ?? 4;
  const nFf = options.feedForwardLength ?? 128;
  const nCtx = options.contextLength ?? 256;
  if (nEmbd % nHead !== 0) throw new Error(`embeddingLength ${nEmbd} must be a multiple of heads ${nHead}`);
  const vocab = vocabulary();
  const nVocab = vocab.tokens.length;
  const rand = random(options.seed ?? 42);

  // Small uniform weights keep activations finite through the layers; scaled by 1/sqrt(fan-in)
  // like a freshly initialised network.
  const matrix = (cols: number, rows: number): Float32Array => {
    const scale = 1 / Math.sqrt(cols);
    const data = new Float32Array(cols * rows);
    for (let i = 0; i < data.length; i++) data[i] = (rand() * 2 - 1) * scale;
    return data;
  };
  // RMS-norm gains of 1: the identity, as in an untrained model.
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);

  // The output projection gets zero rows for every non-NORMAL token (unk, bos, eos, bytes):
  // their logit is then exactly 0 while half the normal tokens score above it, so greedy
  // decoding never picks them. Generation therefore yields printable pieces and runs until
  // maxTokens (EOS stays a valid token; only sampling with a temperature may draw it).
  const output = matrix(nEmbd, nVocab);
  vocab.types.forEach((type, token) => {
    if (type !== TokenType.NORMAL) output.fill(0, token * nEmbd, (token + 1) * nEmbd);
  });

  const tensors: Tensor[] = [
    { name: 'token_embd.weight', dims: [nEmbd, nVocab], data: matrix(nEmbd, nVocab) },
    { name: 'output_norm.weight', dims: [nEmbd], data: ones(nEmbd) },
    { name: 'output.weight', dims: [nEmbd, nVocab], data: output },
  ];
  for (let l = 0; l < nLayers; l++) {
    tensors.push(
      { name: `blk.${l}.attn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `blk.${l}.attn_q.weight`, dims: [nEmbd, nEmbd], data: matrix(nEmbd, nEmbd) },
      // head_count_kv = head_count (no grouped-query attention), so K and V are square too.
      { name: `blk.${l}.attn_k.weight`, dims: [nEmbd, nEmbd], data: matrix(nEmbd, nEmbd) },
      { name: `blk.${l}.attn_v.weight`, dims: [nEmbd, nEmbd], data: matrix(nEmbd, nEmbd) },
      { name: `blk.${l}.attn_output.weight`, dims: [nEmbd, nEmbd], data: matrix(nEmbd, nEmbd) },
      { name: `blk.${l}.ffn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      // SwiGLU: down(silu(gate(x)) * up(x)).
      { name: `blk.${l}.ffn_gate.weight`, dims: [nEmbd, nFf], data: matrix(nEmbd, nFf) },
      { name: `blk.${l}.ffn_up.weight`, dims: [nEmbd, nFf], data: matrix(nEmbd, nFf) },
      { name: `blk.${l}.ffn_down.weight`, dims: [nFf, nEmbd], data: matrix(nFf, nEmbd) },
    );
  }

  const bosTokenId = 1;
  const eosTokenId = 2;
  // The keys llama.cpp reads for LLM_ARCH_LLAMA (llama-arch.cpp / llama-model.cpp); the
  // `llama.` prefix is general.architecture's value.
  const metadata: Array<[string, MetaValue]> = [
    ['general.architecture', str('llama')],
    ['general.name', str(options.name ?? 'pincer-tiny-test')],
    ['general.alignment', u32(ALIGNMENT)],
    ['llama.context_length', u32(nCtx)],
    ['llama.embedding_length', u32(nEmbd)],
    ['llama.block_count', u32(nLayers)],
    ['llama.feed_forward_length', u32(nFf)],
    ['llama.attention.head_count', u32(nHead)],
    ['llama.attention.head_count_kv', u32(nHead)],
    ['llama.rope.dimension_count', u32(nEmbd / nHead)],
    ['llama.rope.freq_base', f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['llama.vocab_size', u32(nVocab)],
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', { type: ValueType.ARRAY, itemType: ValueType.STRING, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: ValueType.ARRAY, itemType: ValueType.FLOAT32, value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: ValueType.ARRAY, itemType: ValueType.INT32, value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(bosTokenId)],
    ['tokenizer.ggml.eos_token_id', u32(eosTokenId)],
    // Prompts start with <s>, as SentencePiece models are trained.
    ['tokenizer.ggml.add_bos_token', { type: ValueType.BOOL, value: true }],
    ['tokenizer.ggml.add_eos_token', { type: ValueType.BOOL, value: false }],
  ];
  if (options.chatTemplate !== undefined) metadata.push(['tokenizer.chat_template', str(options.chatTemplate)]);

  const out = new ByteWriter();
  out.raw(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, value] of metadata) {
    out.string(key);
    out.value(value);
  }
  let offset = 0;
  for (const t of tensors) {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE_F32);
    out.u64(offset);
    offset = align(offset + t.data.byteLength);
  }
  out.pad();
  for (const t of tensors) {
    out.raw(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.pad();
  }
  return { bytes: out.toBuffer(), info: { vocabSize: nVocab, embeddingLength: nEmbd, contextLength: nCtx, bosTokenId, eosTokenId } };
}

const align = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** Little-endian appends into growing chunks. */
class ByteWriter {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  raw(bytes: Buffer): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.raw(b);
  }
  i32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.raw(b);
  }
  f32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(n);
    this.raw(b);
  }
  u64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.raw(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.raw(bytes);
  }
  value(v: MetaValue): void {
    this.u32(v.type);
    this.payload(v);
  }
  /** Zero bytes up to the next multiple of the alignment. */
  pad(): void {
    const missing = align(this.length) - this.length;
    if (missing > 0) this.raw(Buffer.alloc(missing));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }

  private payload(v: MetaValue): void {
    switch (v.type) {
      case ValueType.UINT32:
        return this.u32(v.value);
      case ValueType.INT32:
        return this.i32(v.value);
      case ValueType.FLOAT32:
        return this.f32(v.value);
      case ValueType.BOOL:
        return this.raw(Buffer.from([v.value ? 1 : 0]));
      case ValueType.STRING:
        return this.string(v.value);
      case ValueType.ARRAY:
        // Item type, count, then the items without their own type tags.
        this.u32(v.itemType);
        this.u64(v.value.length);
        if (v.itemType === ValueType.STRING) for (const s of v.value) this.string(s);
        else if (v.itemType === ValueType.FLOAT32) for (const n of v.value) this.f32(n);
        else for (const n of v.value) this.i32(n);
        return;
    }
  }
}
