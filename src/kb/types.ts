/**
 * The knowledge base's data, shared by its parts: parsers turn a file into a ParsedDocument,
 * the chunker cuts it into KbChunks, the store's knowledge role keeps sources and chunks
 * (both backends), retrieval ranks them. Line numbers are 1-based; pages 1-based.
 */

export const KB_FORMATS = ['markdown', 'text', 'html', 'pdf', 'faq'] as const;
export type KbFormat = (typeof KB_FORMATS)[number];

/** A run of a document under one heading path (a Markdown section, a PDF page, a text paragraph group). */
export interface KbSection {
  /** Headings from the document's top to this section ("Installing", "On Debian"); empty for text before any heading. */
  headingPath: string[];
  /** The section's text as Markdown (HTML converted; code fences and tables intact). */
  text: string;
  lineStart: number | null;
  lineEnd: number | null;
  page: number | null;
  /** Questions the section answers, from Markdown front matter (`questions:`), if any. */
  questions?: string[];
}

/** One entry of a FAQ file (`.yaml`, `.json`, `.csv`): a first-class question and answer. */
export interface KbFaq {
  question: string;
  alternatives: string[];
  answer: string;
  tags: string[];
  /** Where the entry starts in its file (the CSV row's line, the YAML item's line), when known. */
  line: number | null;
}

export interface ParsedDocument {
  /** The document's title: its first H1, HTML <title>, PDF title, else the file name. */
  title: string;
  format: KbFormat;
  sections: KbSection[];
  faqs: KbFaq[];
  /**
   * What was wrong with parts of the file that were left out (a FAQ entry without an answer,
   * with its line or index), so one bad entry is reported without losing the good ones.
   */
  problems?: string[];
}

/** A piece of a document as it is indexed and cited. */
export interface KbChunk {
  /** Its place among the source's chunks, from 0. */
  ordinal: number;
  kind: 'section' | 'faq';
  headingPath: string[];
  /** A FAQ entry's question and alternatives; a section's front-matter questions. */
  questions: string[];
  /** What is shown and quoted: the section's text, or the FAQ entry's answer. */
  text: string;
  lineStart: number | null;
  lineEnd: number | null;
  page: number | null;
  /** Approximate tokens of `text` (words × 4/3, as elsewhere in Pincer). */
  tokens: number;
  /** sha256 (hex) of kind, heading path, questions and text: an unchanged chunk keeps its id and its embedding. */
  hash: string;
}
