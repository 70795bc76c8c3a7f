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

/** Parts of a run-together word must be this long, and the word twice that: shorter parts split real words (`line|age`). */
const MIN_PART_LENGTH = 4;

/**
 * Splits run-together lower-case words (`countrylanguage`, `hiredate`) that no case or underscore
 * separates, using the words a catalog's other identifiers spell out (`Country`, `Language`,
 * `hire_date`) as the dictionary: a word becomes two when both halves, each at least four letters,
 * are words of the catalog. No general dictionary, so nothing outside the catalog's own vocabulary
 * is invented; a word that cannot be split stays as it is.
 */
export function createCompoundSplitter(identifiers: Iterable<string>): (word: string) => string[] {
  const vocabulary = new Set<string>();
  for (const identifier of identifiers) {
    for (const word of identifierWords(identifier)) {
      if (word.length >= MIN_PART_LENGTH) vocabulary.add(word);
    }
  }
  return (word) => {
    if (word.length < 2 * MIN_PART_LENGTH || !/^[a-z]+$/.test(word)) return [word];
    for (let cut = MIN_PART_LENGTH; cut <= word.length - MIN_PART_LENGTH; cut++) {
      const head = word.slice(0, cut);
      const tail = word.slice(cut);
      if (vocabulary.has(head) && vocabulary.has(tail)) return [head, tail];
    }
    return [word];
  };
}
