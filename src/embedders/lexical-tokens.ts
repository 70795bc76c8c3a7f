/**
 * The tokenizer shared by the local embedder and the sparse (BM25-style) encoder: identifier-aware,
 * so `concert_id`, `concertId` and `ConcertID` all yield `concert` + `id`, and `area2code` yields
 * `area` + `2` + `code`. Words are lower-cased, English stop words dropped and the rest Porter-stemmed
 * (`singers` and `singer` both become `singer`).
 */
import { stemmer } from "stemmer";

/** One word of the input: its lower-cased surface form and its stem. */
export interface LexicalTerm {
  word: string;
  stem: string;
}

/** Longer runs (hashes, base64, minified blobs) carry no meaning for retrieval and cost n-grams. */
const MAX_WORD_LENGTH = 40;

// Common English function words plus the verbs questions open with ("show", "list", "find"). Words
// that name data ("name", "number", "date", "id") are not here: they match columns.
const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below " +
    "between both but by can could did do does doing down during each few for from further had has have " +
    "having he her here hers herself him himself his how i if in into is it its itself just me more most " +
    "my myself no nor not now of off on once only or other our ours ourselves out over own same she " +
    "should so some such than that the their theirs them themselves then there these they this those " +
    "through to too under until up very was we were what when where which while who whom why will with " +
    "would you your yours yourself yourselves s t d ll m re ve " +
    "also among per via within without whose whether please " +
    "show shows shown list lists listed give gives given find finds return returns returned tell display " +
    "displays get gets got let know want many much"
  ).split(" "),
);

// Word runs: letters and digits of any script. Everything else separates words.
const WORD_RUN = /[\p{L}\p{N}]+/gu;
// Inside a run: an upper-case letter after a lower-case one or a digit (`concertId`), the last
// capital of an acronym before a lower-case letter (`HTMLParser` -> `HTML` + `Parser`), and every
// letter/digit boundary.
const SUB_WORD = /\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}+|[\p{L}\p{M}]+/gu;

/** The words of `text` with their stems, stop words removed, in order. */
export function lexicalTerms(text: string): LexicalTerm[] {
  const terms: LexicalTerm[] = [];
  if (asciiWords(text, (word) => addWord(terms, word))) {
    return terms;
  }
  terms.length = 0; // not ASCII after all: start again with the regular expressions
  for (const run of text.matchAll(WORD_RUN)) {
    for (const part of run[0].matchAll(SUB_WORD)) {
      addWord(terms, part[0]);
    }
  }
  return terms;
}

function addWord(terms: LexicalTerm[], part: string): void {
  const word = part.toLowerCase();
  if (word.length > MAX_WORD_LENGTH || STOP_WORDS.has(word)) return;
  terms.push({ word, stem: isAsciiLetters(word) ? stem(word) : word });
}

/**
 * WORD_RUN and SUB_WORD for ASCII text (most catalog text), as one scan without regular expressions:
 * the same words in the same order (test/unit/embedders/lexical-tokens.test.ts compares the two on
 * generated text). Ingest encodes every chunk's sparse vector, so this runs once per write. Returns
 * false, having emitted some words, at the first character that is not ASCII.
 */
function asciiWords(text: string, emit: (word: string) => void): boolean {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return false;
    const kind = asciiKind(code);
    if (kind === OTHER) {
      i++;
      continue;
    }
    let end = i + 1;
    if (kind === UPPER) {
      while (end < n && asciiKind(text.charCodeAt(end)) === UPPER) end++;
      if (end < n && asciiKind(text.charCodeAt(end)) === LOWER) {
        if (end - i >= 2) {
          end--; // an acronym, up to the capital that starts the next word (`HTMLParser`)
        } else {
          while (end < n && asciiKind(text.charCodeAt(end)) === LOWER) end++; // a capitalised word
        }
      }
    } else {
      while (end < n && asciiKind(text.charCodeAt(end)) === kind) end++; // lower-case letters or digits
    }
    emit(text.slice(i, end));
    i = end;
  }
  return true;
}

const OTHER = 0;
const UPPER = 1;
const LOWER = 2;
const DIGIT = 3;

function asciiKind(c: number): number {
  if (c >= 97 && c <= 122) return LOWER;
  if (c >= 65 && c <= 90) return UPPER;
  if (c >= 48 && c <= 57) return DIGIT;
  return OTHER;
}

/** Porter stems of recent words: catalogs repeat their vocabulary, and stemming is the costly part. */
const stems = new Map<string, string>();
const MAX_CACHED_STEMS = 50_000;

function stem(word: string): string {
  let result = stems.get(word);
  if (result === undefined) {
    result = stemmer(word);
    if (stems.size >= MAX_CACHED_STEMS) stems.clear();
    stems.set(word, result);
  }
  return result;
}

/** The stemmed tokens of `text`, in order, duplicates kept (term frequency matters). */
export function lexicalTokens(text: string): string[] {
  return lexicalTerms(text).map((term) => term.stem);
}

function isAsciiLetters(word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c < 97 || c > 122) return false;
  }
  return true;
}
