import { TokenizerType } from "@qdrant/js-client-grpc";
import { unimplemented } from "./errors.js";

/**
 * The tokenizers of a full-text payload index that the embedded server reproduces: `word` (the
 * default: split on every non-alphanumeric character) and `whitespace`, lower-cased unless
 * `lowercase: false`, with min/max token lengths (lib/segment/src/index/field_index/full_text_index/
 * tokenizers). Prefix and multilingual tokenizers, stop words, stemming and ASCII folding answer
 * UNIMPLEMENTED when the index is created, rather than matching differently from Qdrant.
 */
export type Tokenizer = (text: string) => string[];

interface TextIndexParamsLike {
  tokenizer?: TokenizerType;
  lowercase?: boolean;
  minTokenLen?: bigint;
  maxTokenLen?: bigint;
  stopwords?: unknown;
  stemmer?: unknown;
  asciiFolding?: boolean;
}

export function createTokenizer(params: TextIndexParamsLike | undefined): Tokenizer {
  const p = params ?? {};
  if (p.stopwords !== undefined) throw unimplemented("Full-text index stop words");
  if (p.stemmer !== undefined) throw unimplemented("Full-text index stemming");
  if (p.asciiFolding === true) throw unimplemented("Full-text index ASCII folding");
  const kind = p.tokenizer ?? TokenizerType.Word;
  if (kind !== TokenizerType.Word && kind !== TokenizerType.Whitespace && kind !== TokenizerType.Unknown) {
    throw unimplemented(`Full-text index tokenizer ${TokenizerType[kind]}`);
  }
  const split = kind === TokenizerType.Whitespace ? /\s+/u : /[^\p{L}\p{N}]+/u;
  const lowercase = p.lowercase ?? true;
  const min = p.minTokenLen === undefined ? 0 : Number(p.minTokenLen);
  const max = p.maxTokenLen === undefined ? Infinity : Number(p.maxTokenLen);
  return (text) => {
    const tokens: string[] = [];
    for (const raw of text.split(split)) {
      if (raw.length === 0) continue;
      const token = lowercase ? raw.toLowerCase() : raw;
      const length = [...token].length;
      if (length >= min && length <= max) tokens.push(token);
    }
    return tokens;
  };
}
