/**
 * The plain words inside an identifier, lower-cased, in order: `concert_ID` -> `concert id`,
 * `IndepYear` -> `indep year`, `HTMLParser` -> `html parser`, `area2code` -> `area 2 code`,
 * `Official_ratings_(millions)` -> `official ratings millions`. Chunk texts carry these next to the
 * identifier so that a question in plain words (and an embedding model that reads words, not
 * identifiers) meets the table or column it names.
 */

// Runs of letters and digits of any script; everything else separates words.
const WORD_RUN = /[\p{L}\p{M}\p{N}]+/gu;
// Inside a run: an acronym before a capitalized word (`HTML` of `HTMLParser`), a capitalized or
// lower-case word, an all-capitals run, a number, and any other letters (scripts without case).
const SUB_WORD = /\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?[\p{Ll}\p{M}]+|\p{Lu}+|\p{N}+|[\p{L}\p{M}]+/gu;

export function identifierWords(identifier: string): string[] {
  const words: string[] = [];
  for (const run of identifier.matchAll(WORD_RUN)) {
    for (const part of run[0].matchAll(SUB_WORD)) {
      words.push(part[0].toLowerCase());
    }
  }
  return words;
}

/** The words joined by spaces, or "" when they say nothing the identifier does not (`name`). */
export function identifierPhrase(identifier: string): string {
  const phrase = identifierWords(identifier).join(" ");
  return phrase === identifier.toLowerCase() ? "" : phrase;
}
