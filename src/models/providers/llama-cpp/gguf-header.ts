import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { PincerError, errorMessage } from '../../../errors.js';

/**
 * A configuration mistake, found at start: the path must name an existing `.gguf` file whose
 * header is whole. The header check is not pedantry: node-llama-cpp 3.22 never settles
 * `loadModel()` for a file that is not GGUF or whose header is cut short (its reader waits
 * for bytes past the end), which would hang warm-up instead of failing it.
 */
export function checkModelPath(file: string, setting = 'MODEL_PATH'): void {
  const problem = (why: string): PincerError => new PincerError('MODEL_CONFIG_INVALID', `${setting}=${file}: ${why}`);
  if (!file.toLowerCase().endsWith('.gguf')) throw problem('expected a .gguf file (llama.cpp\'s model format)');
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw problem('no such file');
  }
  if (!isFile) throw problem('not a file');
  const why = checkGgufHeader(file);
  if (why) throw problem(`not a usable GGUF file: ${why}`);
}

/** GGUF metadata value types whose size is fixed (gguf.md), by type id. */
const GGUF_FIXED_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const GGUF_STRING = 8;
const GGUF_ARRAY = 9;

/**
 * Walks the header (metadata and tensor infos) with bounds checks, reading only the header.
 * Returns what is wrong, or undefined. Layout: "GGUF", u32 version, u64 tensor count, u64
 * metadata count, the key/value pairs, the tensor infos; then the aligned tensor data.
 */
export function checkGgufHeader(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let pos = 0;
    // Read in 1 MB chunks: a real model's header (its vocabulary) is megabytes of small fields.
    let chunk = Buffer.alloc(0);
    let chunkStart = 0;
    const read = (n: number): Buffer => {
      if (pos + n > size) throw new Error(`the header is cut short at byte ${size}`);
      if (pos < chunkStart || pos + n > chunkStart + chunk.length) {
        chunk = Buffer.alloc(Math.min(Math.max(n, 1 << 20), size - pos));
        chunkStart = pos;
        readSync(fd, chunk, 0, chunk.length, pos);
      }
      const out = chunk.subarray(pos - chunkStart, pos - chunkStart + n);
      pos += n;
      return out;
    };
    const u32 = (): number => read(4).readUInt32LE();
    const u64 = (): number => Number(read(8).readBigUInt64LE());
    const skip = (n: number): void => {
      if (pos + n > size) throw new Error(`the header is cut short at byte ${size}`);
      pos += n;
    };
    const string = (): Buffer => read(u64());
    const skipValue = (type: number): void => {
      const fixed = GGUF_FIXED_SIZES[type];
      if (fixed !== undefined) return skip(fixed);
      if (type === GGUF_STRING) return skip(u64());
      if (type !== GGUF_ARRAY) throw new Error(`unknown metadata value type ${type}`);
      const itemType = u32();
      const count = u64();
      const itemSize = GGUF_FIXED_SIZES[itemType];
      if (itemSize !== undefined) return skip(count * itemSize);
      for (let i = 0; i < count; i++) skipValue(itemType);
    };
    try {
      if (size < 24) return `${size} bytes are too few for a GGUF header`;
      if (read(4).toString('latin1') !== 'GGUF') return 'it does not start with "GGUF"';
      const version = u32();
      if (version !== 2 && version !== 3) return `GGUF version ${version} is not supported (2 or 3)`;
      const tensors = u64();
      const entries = u64();
      let architecture: string | undefined;
      for (let i = 0; i < entries; i++) {
        const key = string().toString('utf8');
        const type = u32();
        if (key === 'general.architecture' && type === GGUF_STRING) architecture = string().toString('utf8');
        else skipValue(type);
      }
      if (!architecture) return 'it has no general.architecture';
      if (tensors === 0) return 'it holds no tensors';
      for (let i = 0; i < tensors; i++) {
        string();
        const dims = u32();
        if (dims > 8) return `tensor ${i} has ${dims} dimensions`;
        skip(dims * 8 + 4);
        const offset = u64();
        if (pos + offset > size) return 'the tensor data is cut short';
      }
      return undefined;
    } catch (err) {
      return errorMessage(err);
    }
  } finally {
    closeSync(fd);
  }
}
