import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue, PluginReply, RouteResponse } from 'pincer/plugin';
import type { Availability, Translation, TranslationConfig, TranslationErrorCode } from './models.js';

export class TranslationError extends Error {
  constructor(
    readonly code: TranslationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TranslationError';
  }
}

/** Checked config, with the default pair already in Apertium's naming. */
export interface TranslatorSettings {
  apertiumPath: string;
  defaultPair: string;
  timeoutMs: number;
  maxLength: number;
  markUnknown: boolean;
  languages: Readonly<Record<string, string>>;
}

export function settingsFrom(config: TranslationConfig): TranslatorSettings {
  return {
    apertiumPath: config.apertium_path,
    defaultPair: resolvePair(config.default_pair, config.languages),
    timeoutMs: config.timeout_ms,
    maxLength: config.max_length,
    markUnknown: config.mark_unknown,
    languages: { ...config.languages },
  };
}

// Apertium names a direction "source-target", each side a language code with an optional
// variant: "eng-spa", "spa-eng_US". Users may write ISO 639-1 codes instead: "en-es".
const PAIR_PATTERN = /^([a-z]{2,3})(_[A-Za-z0-9]+)?-([a-z]{2,3})(_[A-Za-z0-9]+)?$/i;

/** "en-es" → "eng-spa", "es-en_US" → "spa-eng_US"; codes missing from `languages` pass unchanged. */
export function resolvePair(spec: string, languages: Readonly<Record<string, string>>): string {
  const match = PAIR_PATTERN.exec(spec.trim());
  if (!match) {
    throw new TranslationError('bad_request', `"${spec}" is not a language pair; write it like en-es or eng-spa`);
  }
  const [, source = '', sourceVariant = '', target = '', targetVariant = ''] = match;
  const code = (c: string) => languages[c.toLowerCase()] ?? c.toLowerCase();
  return `${code(source)}${sourceVariant}-${code(target)}${targetVariant}`;
}

/**
 * Splits "/translate en-es Hello" into pair and text. The first word counts as a pair only if
 * both its languages are known, so that text starting with "re-do" or "pre-war" is not eaten.
 */
export function splitCommandArgs(args: string, known: ReadonlySet<string>): { pair?: string; text: string } {
  const [, first = '', rest = ''] = /^(\S+)(?:\s+([\s\S]*))?$/.exec(args) ?? [];
  const match = PAIR_PATTERN.exec(first);
  if (match && known.has(match[1]!.toLowerCase()) && known.has(match[3]!.toLowerCase())) {
    return { pair: first, text: rest };
  }
  return { text: args };
}

/** Language codes a user may name: ISO 639-1 keys, Apertium codes, and sides of installed pairs. */
export function knownLanguages(languages: Readonly<Record<string, string>>, installed: readonly string[]): Set<string> {
  const sides = installed.flatMap((pair) => pair.split('-').map((side) => side.split('_')[0] ?? side));
  return new Set([...Object.keys(languages), ...Object.values(languages), ...sides]);
}

export function installHint(pair: string): string {
  const [source, target] = pair.split('-').map((side) => side.split('_')[0]);
  return (
    `install with: apt-get install apertium apertium-${source}-${target}` +
    ` (or apertium-${target}-${source}: Debian orders some pairs the other way)`
  );
}

/**
 * Runs apertium, never through a shell, with `input` (if any) on stdin. Resolves with its
 * stdout; rejects with a TranslationError: 'unavailable' when the binary is missing, 'timeout',
 * or 'failed' (an error from apertium, cancelled).
 */
export async function runApertium(
  path: string,
  args: readonly string[],
  input: string | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  if (signal?.aborted) throw new TranslationError('failed', 'translation cancelled');
  if (input === undefined) return spawnApertium(path, args, 'ignore', timeoutMs, signal);
  // apertium reads its input by opening the path /dev/stdin, which fails when stdin is a
  // socket, and Node's 'pipe' stdio is one. A regular file opens fine, so the text goes
  // through a private temporary file, still as stdin.
  const dir = await mkdtemp(join(tmpdir(), 'pincer-apertium-'));
  try {
    const file = join(dir, 'input.txt');
    await writeFile(file, input, { mode: 0o600 });
    const handle = await open(file, 'r');
    try {
      return await spawnApertium(path, args, handle.fd, timeoutMs, signal);
    } finally {
      await handle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnApertium(
  path: string,
  args: readonly string[],
  stdin: number | 'ignore',
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  return new Promise((resolve, reject) => {
    // apertium is a shell script driving a pipeline of a dozen processes. Giving it its own
    // process group lets a timeout kill the whole pipeline, not only the script.
    const child = spawn(path, args, { detached: true, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;

    const finish = (error: TranslationError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(stdout);
    };
    const killPipeline = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const onAbort = () => {
      killPipeline();
      finish(new TranslationError('failed', 'translation cancelled'));
    };
    const timer = setTimeout(() => {
      killPipeline();
      finish(new TranslationError('timeout', `apertium took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    // Both exist: they are 'pipe' above (the typings cannot tell with a computed stdin).
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish(
        error.code === 'ENOENT' || error.code === 'EACCES'
          ? new TranslationError('unavailable', `apertium was not found at "${path}"`)
          : new TranslationError('failed', `could not run apertium: ${error.message}`),
      );
    });
    child.on('close', (code, killedBy) => {
      const complaint = stderr.trim().split('\n')[0];
      // A stage of apertium's pipeline can fail while the script still exits 0; nothing on
      // stdout but something on stderr is that case, not an empty translation.
      if (code === 0 && (stdout !== '' || !complaint)) return finish(undefined);
      const reason = complaint || `exit ${code ?? killedBy}`;
      finish(new TranslationError('failed', `apertium ${args.join(' ')} failed: ${reason}`));
    });
  });
}

/** Asks `apertium -l` for the installed pairs and says what, if anything, stops the plugin. */
export async function checkAvailability(s: TranslatorSettings): Promise<Availability> {
  let installed: string[];
  try {
    const listing = await runApertium(s.apertiumPath, ['-l'], undefined, s.timeoutMs);
    installed = listing
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { installed: [], problem: `${reason}; ${installHint(s.defaultPair)}` };
  }
  if (!installed.includes(s.defaultPair)) {
    const have = installed.length > 0 ? `installed: ${installed.join(', ')}` : 'no pair is installed';
    const problem = `the default pair ${s.defaultPair} is not installed (${have}); ${installHint(s.defaultPair)}`;
    return { installed, problem };
  }
  return { installed };
}

/**
 * Translates through Apertium and tracks whether it is usable. A failed check is redone
 * (at most every `recheckMs`) when a request comes in, so installing Apertium needs no restart.
 */
export class Translator {
  private last: Availability | undefined;
  private checkedAt = 0;
  private checking: Promise<Availability> | undefined;

  constructor(
    private readonly s: TranslatorSettings,
    /** Called when the availability changes, and after the first check if it found a problem. */
    private readonly onChange: (availability: Availability) => void = () => {},
    private readonly recheckMs = 30_000,
  ) {}

  /** Runs `apertium -l` now; concurrent callers share one run. */
  check(): Promise<Availability> {
    this.checking ??= checkAvailability(this.s)
      .then((next) => {
        const previous = this.last;
        this.last = next;
        this.checkedAt = Date.now();
        if (previous?.problem !== next.problem) this.onChange(next);
        return next;
      })
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  async availability(): Promise<Availability> {
    if (!this.last || (this.last.problem && Date.now() - this.checkedAt >= this.recheckMs)) return this.check();
    return this.last;
  }

  async pairs(): Promise<string[]> {
    return [...(await this.availability()).installed];
  }

  async knownLanguages(): Promise<Set<string>> {
    return knownLanguages(this.s.languages, await this.pairs());
  }

  /** `pairSpec` as "en-es", "eng-spa" or "spa-eng_US"; the configured default when omitted. */
  async translate(text: string, pairSpec?: string, signal?: AbortSignal): Promise<Translation> {
    if (!text.trim()) throw new TranslationError('bad_request', 'there is no text to translate');
    if (text.length > this.s.maxLength) {
      throw new TranslationError(
        'bad_request',
        `the text is ${text.length} characters long; the limit is ${this.s.maxLength}`,
      );
    }
    const pair = pairSpec === undefined ? this.s.defaultPair : resolvePair(pairSpec, this.s.languages);

    const { installed, problem } = await this.availability();
    if (!installed.includes(pair)) {
      if (installed.length === 0 || pair === this.s.defaultPair) {
        throw new TranslationError('unavailable', problem ?? `the pair ${pair} is not installed`);
      }
      throw new TranslationError(
        'unknown_pair',
        `the pair ${pair} is not installed (installed: ${installed.join(', ')}); ${installHint(pair)}`,
      );
    }

    // -u drops Apertium's "*" before words it does not know: in chat, an untranslated name or
    // typo reads better as itself than as "*Bob".
    const args = this.s.markUnknown ? [pair] : ['-u', pair];
    try {
      const output = await runApertium(this.s.apertiumPath, args, text, this.s.timeoutMs, signal);
      // Apertium leaves the space of a word it drops ("I love" → " Quiero", Spanish omits "I").
      return { translation: output.trim(), pair };
    } catch (error) {
      // The binary vanished since the last check: record that, so status and later requests say so.
      if (error instanceof TranslationError && error.code === 'unavailable') await this.check();
      throw error;
    }
  }
}

export function commandUsage(defaultPair: string): string {
  return `Usage: /translate [pair] <text>, e.g. /translate en-es Hello friend (without a pair: ${defaultPair})`;
}

export async function commandReply(
  translator: Translator,
  args: string,
  defaultPair: string,
  signal?: AbortSignal,
): Promise<string | PluginReply> {
  const { pair, text } = splitCommandArgs(args, await translator.knownLanguages());
  if (!text) return commandUsage(defaultPair);
  try {
    const result = await translator.translate(text, pair, signal);
    return { text: result.translation, data: result };
  } catch (error) {
    if (!(error instanceof TranslationError)) throw error;
    return `${error.code === 'unavailable' ? 'Translation is unavailable' : 'Cannot translate'}: ${error.message}`;
  }
}

const HTTP_STATUS: Record<TranslationErrorCode, number> = {
  bad_request: 400,
  unknown_pair: 400,
  unavailable: 503,
  timeout: 504,
  failed: 500,
};

function errorResponse(code: TranslationErrorCode, message: string): RouteResponse {
  return { status: HTTP_STATUS[code], body: { error: { code, message } } };
}

/** POST /translate with `{text, pair?}`; answers `{translation, pair}` or `{error: {code, message}}`. */
export async function routeReply(translator: Translator, body: JsonValue | undefined): Promise<RouteResponse> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return errorResponse('bad_request', 'send a JSON object: {"text": "...", "pair": "en-es"}');
  }
  const { text, pair } = body;
  if (typeof text !== 'string') return errorResponse('bad_request', '"text" must be a string');
  if (pair !== undefined && pair !== null && typeof pair !== 'string') {
    return errorResponse('bad_request', '"pair" must be a string such as "en-es", or left out');
  }
  try {
    // Always a full RouteResponse, so a result can never be mistaken for one.
    return { status: 200, body: await translator.translate(text, pair ?? undefined) };
  } catch (error) {
    if (error instanceof TranslationError) return errorResponse(error.code, error.message);
    throw error;
  }
}
