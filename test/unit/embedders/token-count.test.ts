import { createRequire } from "node:module";
import { Tiktoken, type TiktokenBPE } from "js-tiktoken/lite";
import { afterAll, describe, expect, it } from "vitest";
import { assembleContext } from "../../../src/core/context/assemble.js";
import { catalogRow } from "../../helpers/rows.js";
import { createCpuPool, INLINE_CHARS } from "../../../src/embedders/cpu-pool.js";
import { embedText } from "../../../src/embedders/local-embedder.js";
import { countCl100kTokens, MAX_PIECE_CHARS } from "../../../src/embedders/openai-tokenizer.js";

// The reference: js-tiktoken's plain BPE over the whole text (slow on long runs, exact).
const require = createRequire(import.meta.url);
const ranks = require("js-tiktoken/ranks/cl100k_base") as TiktokenBPE | { default: TiktokenBPE };
const reference = new Tiktoken("default" in ranks ? ranks.default : ranks);
const referenceCount = (text: string) => reference.encode(text, [], []).length;

const NORMAL_TEXTS = [
  "tiktoken is great!",
  "Table: public.users. Columns: id (integer, primary key), email (text), created_at (timestamptz).",
  "SELECT u.email, count(*) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY 1 HAVING count(*) > 10;",
  "Column: concert.stadium_id -> stadium.stadium_id (concert stadium id)\n\n  Indented   text\twith tabs\r\nand CRLF.",
  "Naïve café owners in Zürich paid 1234567.89 CHF; 東京の人口は約1400万人です。 Emoji: 🎉👍🏽 done.",
  "<|endoftext|> is ordinary text here, and so is <|fim_prefix|>.",
  "it's, you'll, they've, I'm, we'd; IT'S, YOU'LL!!! ... ??? --- ***",
];

describe("cl100k token counting", () => {
  it("counts ordinary text exactly as the reference BPE", () => {
    for (const text of NORMAL_TEXTS) expect(countCl100kTokens(text), text).toBe(referenceCount(text));
  });

  it("counts text of many segments exactly as the reference BPE", () => {
    // Longer than several 1,024-character segments, cut between pieces of every kind.
    const long = NORMAL_TEXTS.join("\n").repeat(40);
    expect(long.length).toBeGreaterThan(10_000);
    expect(countCl100kTokens(long)).toBe(referenceCount(long));
  });

  it("counts a run without spaces slice by slice, close to the reference and never below it", () => {
    const run = "ab".repeat(300);
    const counted = countCl100kTokens(run);
    expect(counted).toBeGreaterThanOrEqual(referenceCount(run));
    expect(counted).toBeLessThanOrEqual(referenceCount(run) + Math.ceil(run.length / MAX_PIECE_CHARS));
  });

  it("counts a 65,536-character run of one letter (the input that froze the service)", () => {
    const slice = countCl100kTokens("a".repeat(MAX_PIECE_CHARS));
    expect(countCl100kTokens("a".repeat(65_536))).toBe(slice * (65_536 / MAX_PIECE_CHARS));
  });

  it("never cuts a surrogate pair", () => {
    const emoji = "😀".repeat(MAX_PIECE_CHARS);
    // Every code point survives: a cut pair would count as two replacement characters.
    expect(countCl100kTokens(emoji)).toBe(referenceCount("😀") * MAX_PIECE_CHARS);
  });

  it("stops counting once past the limit", () => {
    const text = "word ".repeat(10_000);
    const cut = countCl100kTokens(text, 100);
    expect(cut).toBeGreaterThan(100);
    expect(cut).toBeLessThan(countCl100kTokens(text));
  });
});

describe("cpu pool", () => {
  const pool = createCpuPool();
  afterAll(() => pool.close());

  it("embeds and counts large inputs on its worker exactly as inline", async () => {
    const texts = Array.from(
      { length: 40 },
      (_, i) => `Table: t${i}. ${"columns of a wide table ".repeat(20)}${"x".repeat(200)}`,
    );
    expect(texts.join("").length).toBeGreaterThan(INLINE_CHARS);
    const { vectors, tokens } = await pool.embedLocal(texts, 64);
    expect(vectors).toHaveLength(texts.length);
    texts.forEach((text, i) => {
      expect(Array.from(vectors[i])).toEqual(Array.from(embedText(text, 64)));
      expect(tokens[i]).toBe(countCl100kTokens(text));
    });
    expect(await pool.countTokens(texts, 10)).toEqual(texts.map((text) => countCl100kTokens(text, 10)));
  });

  it("assembles a context on its worker exactly as inline, chunks holding the rows it was given", async () => {
    const row = (kind: string, table: string, metadata: Record<string, unknown>) =>
      catalogRow(kind, table, metadata, `${kind} ${table} ${JSON.stringify(metadata)}`);
    const singer = row("table", "singer", { columns: [{ name: "singer_id" }, { name: "age" }] });
    const singerId = row("column", "singer", { column: "singer_id", type: "int", primaryKey: true });
    const age = row("column", "singer", { column: "age", type: "int" });
    const input = {
      hits: [
        { id: age.id, score: 0.6 },
        { id: singer.id, score: 0.5 },
      ],
      rows: [age, singer, singerId],
      maxChunks: 40,
      maxTokens: 4000,
    };
    const onWorker = await pool.assembleContext(input);
    expect(onWorker).toEqual(assembleContext({ ...input, countTokens: countCl100kTokens }));
    expect(onWorker.chunks.map((chunk) => chunk.row)).toEqual([singer, age, singerId]);
    expect(onWorker.chunks[0].row).toBe(singer);
  });
});
