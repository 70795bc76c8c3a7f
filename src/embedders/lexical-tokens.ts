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
  for (const run of text.matchAll(WORD_RUN)) {
    for (const part of run[0].matchAll(SUB_WORD)) {
      const word = part[0].toLowerCase();
      if (word.length > MAX_WORD_LENGTH || STOP_WORDS.has(word)) continue;
      terms.push({ word, stem: isAsciiLetters(word) ? stemmer(word) : word });
    }
  }
  return terms;
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
