import pino from "pino";
import { describe, expect, it } from "vitest";
import { CancelledError, InvalidArgumentError } from "../../../src/core/errors.js";
import { createLocalEmbedder } from "../../../src/embedders/local-embedder.js";
import { createOpenAIEmbedder } from "../../../src/embedders/openai-embedder.js";

const cosine = (a: Float32Array, b: Float32Array): number => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
};
const norm = (a: Float32Array): number => Math.sqrt(cosine(a, a));

const SINGER = "Table: singer. Columns: singer_id, name, country, song_name, age, is_male";
const STADIUM = "Table: stadium. Columns: stadium_id, location, name, capacity, highest, lowest, average";
const CONCERT = "Table: concert. Columns: concert_id, concert_name, theme, stadium_id, year";

describe("local embedder", () => {
  const embedder = createLocalEmbedder({ dimensions: 384 });

  it("describes itself", () => {
    expect(embedder.name).toBe("local");
    expect(embedder.model).toBe("local-hash-v2");
    expect(embedder.dimensions).toBe(384);
    expect(createLocalEmbedder({ dimensions: 8, model: "custom" }).model).toBe("custom");
  });

  it("returns one unit vector of the configured size per input, in order", async () => {
    const vectors = await embedder.embed([{ text: SINGER }, { text: STADIUM }, { text: "singers" }]);
    expect(vectors).toHaveLength(3);
    for (const vector of vectors) {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(384);
      expect(norm(vector)).toBeCloseTo(1, 5);
    }
    const [alone] = await embedder.embed([{ text: STADIUM }]);
    expect(Array.from(vectors[1])).toEqual(Array.from(alone));
  });

  it("is deterministic across instances", async () => {
    const [a] = await embedder.embed([{ text: SINGER }]);
    const [b] = await createLocalEmbedder({ dimensions: 384 }).embed([{ text: SINGER }]);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it("gives a unit vector even to text without content words", async () => {
    const [empty, marks, stops, otherStops] = await embedder.embed([
      { text: "" },
      { text: "?!" },
      { text: "What are they?" },
      { text: "Who is it?" },
    ]);
    for (const vector of [empty, marks, stops, otherStops]) expect(norm(vector)).toBeCloseTo(1, 5);
    expect(cosine(stops, otherStops)).toBeLessThan(0.5);
  });

  it("puts a question about singers nearer the singer table than the stadium table", async () => {
    const [question, singer, stadium, concert] = await embedder.embed([
      { text: "How many singers do we have?" },
      { text: SINGER },
      { text: STADIUM },
      { text: CONCERT },
    ]);
    expect(cosine(question, singer)).toBeGreaterThan(cosine(question, stadium));
    expect(cosine(question, singer)).toBeGreaterThan(cosine(question, concert));
  });

  it("matches identifiers to words: concert_id ~ concert, capacity ~ stadium table", async () => {
    const [concerts, capacity, singer, stadium, concert] = await embedder.embed([
      { text: "List all concerts and their themes" },
      { text: "What is the maximum capacity?" },
      { text: SINGER },
      { text: STADIUM },
      { text: CONCERT },
    ]);
    expect(cosine(concerts, concert)).toBeGreaterThan(Math.max(cosine(concerts, singer), cosine(concerts, stadium)));
    expect(cosine(capacity, stadium)).toBeGreaterThan(Math.max(cosine(capacity, singer), cosine(capacity, concert)));
  });

  it("relates words that share most of their letters (character n-grams)", async () => {
    const [nationality, nation, stadium] = await embedder.embed([
      { text: "nationality" },
      { text: "nations" },
      { text: "stadium" },
    ]);
    expect(cosine(nationality, nation)).toBeGreaterThan(0.2);
    expect(cosine(nationality, nation)).toBeGreaterThan(cosine(nationality, stadium) + 0.2);
  });

  it("counts tokens the way the OpenAI embedder does, so budgets match", () => {
    const openAICount = createOpenAIEmbedder({ apiKey: "sk-unused", logger: pino({ level: "silent" }) }).countTokens;
    for (const text of ["How many singers do we have?", "singer_id, name", SINGER]) {
      expect(embedder.countTokens(text)).toBe(openAICount(text));
    }
    expect(embedder.countTokens("tiktoken is great!")).toBe(6);
  });

  it("lets a synonym reach its head word: nation ~ country", async () => {
    const wide = createLocalEmbedder({ dimensions: 3072 });
    const [nation, country, stadium] = await wide.embed([{ text: "nation" }, { text: "country" }, { text: "stadium" }]);
    // "nation" and "country" share no stem and no character n-gram: only the synonym links them.
    expect(cosine(nation, country)).toBeGreaterThan(0.1);
    expect(Math.abs(cosine(nation, stadium))).toBeLessThan(0.05);
  });

  it("honours an aborted signal", async () => {
    const error = await embedder.embed([{ text: "x" }], { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
  });

  it("rejects a non-positive dimension", () => {
    expect(() => createLocalEmbedder({ dimensions: 0 })).toThrow(InvalidArgumentError);
  });
});
