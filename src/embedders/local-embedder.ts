/**
 * A deterministic embedder for machines without OpenAI: no network, no model download, thousands of
 * short texts per second. It ranks by the words a text shares with another, the way a sparse
 * lexical model would, folded into a dense vector by feature hashing:
 *
 * - words come from `lexicalTerms` (identifier-aware, stop words out, Porter stems);
 * - each word contributes its stem, its character 3- and 4-grams (so `nationality` still meets
 *   `nation`, and a misspelling meets its word), the adjacent-word pair (`area code`), and, for
 *   words in a small map of general English synonyms, the group's head word (`people` ~ `person`);
 * - words that name the generic parts of any record (`id`, `name`, `code`, `type`) weigh less;
 * - feature counts are damped (1 + ln tf), each feature is hashed to three buckets with hashed signs
 *   (collisions cancel out on average, and one collision costs a third of a feature), and the
 *   vector is L2-normalized.
 *
 * On the Spider-derived tuning set (table chunks "Table: t. Columns: a, b, ...", questions ranked
 * within their database by cosine) the top table is a gold table for 92% of questions.
 *
 * Changing any of this changes every vector: bump `model` so stored vectors are re-embedded.
 */
import { InvalidArgumentError } from "../core/errors.js";
import { throwIfAborted } from "./abort.js";
import { createCpuPool } from "./cpu-pool.js";
import { withTokens, type EmbedInput, type EmbedOptions, type Embedder, type Embeddings } from "./embedder.js";
import { hash32 } from "./hash.js";
import { lexicalTerms, type LexicalTerm } from "./lexical-tokens.js";
import { countCl100kTokens } from "./openai-tokenizer.js";

export interface LocalEmbedderOptions {
  dimensions: number;
  /** Recorded with each stored vector; defaults to `local-hash-v2`. */
  model?: string;
}

export const DEFAULT_LOCAL_MODEL = "local-hash-v2";

/** Weight of a word's stem; the other features are scaled against it. */
const STEM_WEIGHT = 1;
/** Combined weight (L2 norm) of all character n-grams of one word. */
const NGRAM_WEIGHT = 1;
const NGRAM_SIZES = [3, 4] as const;
/**
 * Words that name the generic parts of almost every record (keys, labels, free-text details) say
 * little about which table or column a question needs; they count for less, like a low IDF would.
 */
const GENERIC_STEMS: ReadonlySet<string> = new Set([
  "id",
  "name",
  "code",
  "type",
  "descript",
  "detail",
  "other",
  "ref",
]);
const GENERIC_WEIGHT = 0.4;
/** Weight of a synonym's head word, relative to the word itself. */
const SYNONYM_WEIGHT = 0.5;
/** Weight of an adjacent pair of words. */
const BIGRAM_WEIGHT = 0.3;

const HASHES_PER_FEATURE = 3;
const HASH_SEEDS = [0x811c9dc5, 0x9747b28c, 0x5bd1e995] as const;

/** Hashed-feature cosines run lower than a trained model's: see `Embedder.relevanceFloor`. */
export const LOCAL_RELEVANCE_FLOOR = 0.12;

export function createLocalEmbedder(options: LocalEmbedderOptions): Embedder {
  const { dimensions } = options;
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new InvalidArgumentError("dimensions", `must be a positive integer, got ${dimensions}`);
  }
  const model = options.model ?? DEFAULT_LOCAL_MODEL;
  const cpu = createCpuPool();

  return {
    name: "local",
    model,
    dimensions,
    relevanceFloor: LOCAL_RELEVANCE_FLOOR,
    async embed(inputs: readonly EmbedInput[], embedOptions?: EmbedOptions): Promise<Embeddings> {
      throwIfAborted(embedOptions?.signal);
      // Large batches and long texts are embedded on a worker thread, not on the event loop.
      const { vectors, tokens } = await cpu.embedLocal(
        inputs.map((input) => input.text),
        dimensions,
      );
      throwIfAborted(embedOptions?.signal);
      return withTokens(
        vectors,
        tokens.reduce((sum, count) => sum + count, 0),
      );
    },
    // OpenAI's count (cl100k_base), not the number of lexical terms: chunk budgets and request
    // limits then come out the same whichever embedder a deployment runs.
    countTokens: countCl100kTokens,
  };
}

/** The hashed, normalized vector of one text. Exported for tests and tools. */
export function embedText(text: string, dimensions: number): Float32Array {
  const features = extractFeatures(termsOf(text));
  if (features.size === 0) {
    // No word at all ("", "?!"): still a unit vector, one per distinct text, so cosine is defined.
    features.set(`t:${text.trim()}`, { weight: 1, count: 1 });
  }
  const sums = new Float64Array(dimensions);
  for (const [key, { weight, count }] of features) {
    const value = (weight * (1 + Math.log(count))) / Math.sqrt(HASHES_PER_FEATURE);
    // Each feature lands in several buckets with independent signs: a collision between two
    // features then moves the cosine by a fraction of their weight instead of all of it.
    for (let k = 0; k < HASHES_PER_FEATURE; k++) {
      const h = hash32(key, HASH_SEEDS[k]);
      sums[h % dimensions] += h & 0x80000000 ? value : -value;
    }
  }
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += sums[i] * sums[i];
  const vector = new Float32Array(dimensions);
  // Zero only if every feature cancelled out in one bucket (dimensions of 1 or 2).
  if (norm === 0) return vector;
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) vector[i] = sums[i] * scale;
  return vector;
}

/**
 * The lexical terms of `text`; a text made only of stop words ("What are they?") falls back to
 * those words, unstemmed, rather than to nothing.
 */
function termsOf(text: string): LexicalTerm[] {
  const terms = lexicalTerms(text);
  if (terms.length > 0) return terms;
  return Array.from(text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu), (match) => ({ word: match[0], stem: match[0] }));
}

interface Feature {
  weight: number;
  count: number;
}

function extractFeatures(terms: readonly LexicalTerm[]): Map<string, Feature> {
  const features = new Map<string, Feature>();
  const add = (key: string, weight: number): void => {
    const feature = features.get(key);
    if (feature) feature.count++;
    else features.set(key, { weight, count: 1 });
  };
  for (let t = 0; t < terms.length; t++) {
    const { word, stem } = terms[t];
    const stemWeight = GENERIC_STEMS.has(stem) ? GENERIC_WEIGHT : STEM_WEIGHT;
    add(`w:${stem}`, stemWeight);
    // A synonym also counts, more weakly, as its group's head word: `nation` meets `country`.
    const head = SYNONYMS.get(stem);
    if (head !== undefined && head !== stem) add(`w:${head}`, SYNONYM_WEIGHT * stemWeight);
    if (t > 0) add(`b:${terms[t - 1].stem} ${stem}`, BIGRAM_WEIGHT);
    const grams = charNgrams(word);
    const gramWeight = (stemWeight * NGRAM_WEIGHT) / Math.sqrt(Math.max(grams.length, 1));
    for (const gram of grams) add(`g:${gram}`, gramWeight);
  }
  return features;
}

/** Character n-grams of a word with boundary marks, so prefixes and suffixes are features too. */
function charNgrams(word: string): string[] {
  const marked = `<${word}>`;
  const grams: string[] = [];
  for (const n of NGRAM_SIZES) {
    for (let i = 0; i + n <= marked.length; i++) grams.push(marked.slice(i, i + n));
  }
  return grams;
}

// General English synonyms, keyed by Porter stem; each group maps to its first member (its head).
// Nothing here is about a particular schema: it only says which everyday words mean the same thing.
const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ["count", "number", "total", "amount", "quantiti"],
  ["person", "peopl", "individu"],
  ["ag", "old", "older", "oldest", "young", "younger", "youngest"],
  ["salari", "wage", "pai", "earn", "incom"],
  ["countri", "nation"],
  ["citi", "town"],
  ["film", "movi"],
  ["car", "automobil", "vehicl"],
  ["bui", "purchas"],
  ["job", "occup"],
  ["child", "kid"],
  ["phone", "telephon"],
  ["price", "cost", "fee", "expens", "cheap", "cheaper", "cheapest"],
  ["size", "big", "bigger", "biggest", "larg", "larger", "largest", "small", "smaller", "smallest"],
  ["student", "pupil"],
  ["teacher", "instructor", "lectur"],
  ["compani", "firm", "enterpris"],
  ["employe", "staff", "worker"],
  ["custom", "client"],
  ["song", "track"],
  // A measure and the adjectives that ask for it ("the tallest player" needs `height`).
  ["height", "tall", "taller", "tallest"],
  ["weight", "heavi", "heavier", "heaviest"],
  ["length", "long", "longer", "longest"],
  // What is spoken is a language ("countries that speak English" needs `language`).
  ["languag", "speak", "spoken", "spoke"],
];

const SYNONYMS: ReadonlyMap<string, string> = new Map(
  SYNONYM_GROUPS.flatMap((group) => group.map((stem) => [stem, group[0]] as const)),
);
