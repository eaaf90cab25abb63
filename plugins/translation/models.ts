/** Settings from config.json, after Pincer merged and validated them. */
export interface TranslationConfig {
  apertium_path: string;
  default_pair: string;
  timeout_ms: number;
  max_length: number;
  mark_unknown: boolean;
  languages: Record<string, string>;
}

/** What a translation returns: the text, and the Apertium pair that produced it ("eng-spa"). */
export type Translation = {
  translation: string;
  pair: string;
};

/**
 * What `apertium -l` said at the last check. `problem` is set when the plugin cannot do its
 * job: Apertium is missing or broken (then `installed` is empty) or the default pair is not
 * installed (other installed pairs still work when asked for by name).
 */
export interface Availability {
  installed: string[];
  problem?: string;
}

/** Why a translation failed; the route maps each to an HTTP status. */
export type TranslationErrorCode = 'bad_request' | 'unknown_pair' | 'unavailable' | 'timeout' | 'failed';

/** The `translator` service other plugins get with `ctx.service('translator')`. */
export interface TranslatorService {
  /** `pair` as "en-es", "eng-spa" or "spa-eng_US"; the configured default when omitted. */
  translate(text: string, pair?: string): Promise<Translation>;
  /** Installed Apertium pairs, e.g. ["eng-spa", "spa-eng", "spa-eng_US"]; empty when unavailable. */
  pairs(): Promise<string[]>;
}
