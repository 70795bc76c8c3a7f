import { describe, expect, it } from "vitest";
import { assembleContext, findBridgeTables, rankTables } from "../../../../src/core/context/assemble.js";
import type { EmbeddingRow } from "../../../../src/core/types.js";
import { catalogRow } from "../../../helpers/rows.js";

let next = 0;
/** Ids in creation order: ties between equal scores fall to the id, so tests read in that order. */
function row(kind: string, table: string, metadata: Record<string, unknown> = {}, content = `${kind} ${table}`) {
  next++;
  return catalogRow(kind, table, metadata, content, `00000000-0000-4000-8000-${String(next).padStart(12, "0")}`);
}

const countTokens = (text: string) => Math.ceil(text.length / 4);

describe("context assembly", () => {
  const singer = row("table", "singer", {
    description: "People who sing",
    columns: [{ name: "singer_id" }, { name: "age" }],
  });
  const singerId = row("column", "singer", {
    column: "singer_id",
    type: "int",
    primaryKey: true,
    referencedBy: [{ schema: "s", table: "lineup", column: "singer_id" }],
  });
  const age = row("column", "singer", { column: "age", type: "int" });
  const concert = row("table", "concert", { columns: [{ name: "concert_id" }] });
  const concertId = row("column", "concert", {
    column: "concert_id",
    type: "int",
    primaryKey: true,
    referencedBy: [{ schema: "s", table: "lineup", column: "concert_id" }],
  });
  const lineup = row("table", "lineup");
  const lineupSinger = row("column", "lineup", {
    column: "singer_id",
    type: "int",
    references: { schema: "s", table: "singer", column: "singer_id" },
  });

  it("ranks tables by their own score plus their best columns'", () => {
    const rows = new Map([singer, age, concert].map((entry) => [entry.id, entry]));
    const ranked = rankTables(
      [
        { id: concert.id, score: 0.5 },
        { id: singer.id, score: 0.4 },
        { id: age.id, score: 0.3 },
      ],
      rows,
    );
    expect(ranked.map((table) => [table.table, table.score])).toEqual([
      ["singer", 0.55],
      ["concert", 0.5],
    ]);
  });

  it("finds a table that links two chosen tables by foreign keys", () => {
    expect(
      findBridgeTables(
        [
          { schema: "s", table: "singer" },
          { schema: "s", table: "concert" },
        ],
        [singerId, concertId],
      ),
    ).toEqual([{ schema: "s", table: "lineup" }]);
    expect(findBridgeTables([{ schema: "s", table: "singer" }], [singerId])).toEqual([]);
  });

  it("labels hits, key columns and bridges, groups by table in rank order and renders DDL", () => {
    const result = assembleContext({
      hits: [
        { id: age.id, score: 0.6 },
        { id: singer.id, score: 0.5 },
        { id: concert.id, score: 0.4 },
      ],
      rows: [age, singer, concert, singerId, concertId],
      bridgeRows: [lineup, lineupSinger],
      maxChunks: 40,
      maxTokens: 4000,
      countTokens,
    });
    const reasons = Object.fromEntries(
      result.chunks.map((chunk) => [
        `${chunk.row.tableName}.${chunk.row.metadata.column ?? chunk.row.kind}`,
        chunk.reason,
      ]),
    );
    expect(reasons).toEqual({
      "singer.table": "direct_hit",
      "singer.age": "direct_hit",
      "singer.singer_id": "key_column",
      "concert.table": "direct_hit",
      "concert.concert_id": "key_column",
      "lineup.table": "join_bridge",
      "lineup.singer_id": "join_bridge",
    });
    expect(result.tables.map((table) => [table.table, table.reason])).toEqual([
      ["singer", "direct_hit"],
      ["concert", "direct_hit"],
      ["lineup", "join_bridge"],
    ]);
    expect(result.text).toContain("CREATE TABLE s.singer ( -- People who sing");
    expect(result.text).toContain("singer_id int PRIMARY KEY");
    expect(result.text).toContain("singer_id int REFERENCES s.singer(singer_id)");
    expect(result.truncated).toBe(false);
  });

  it("fills budgets best-first and reports what it cut", () => {
    const result = assembleContext({
      hits: [
        { id: age.id, score: 0.6 },
        { id: concert.id, score: 0.4 },
      ],
      rows: [age, concert, singer, singerId],
      maxChunks: 2,
      maxTokens: 4000,
      countTokens,
    });
    // concert (0.4) outranks singer (0.5 x 0.6 from its column): its table chunk, then the best column.
    expect(result.chunks.map((chunk) => chunk.row.id)).toEqual([concert.id, age.id]);
    expect(result.truncated).toBe(true);
    const tight = assembleContext({
      hits: [
        { id: age.id, score: 0.6 },
        { id: concert.id, score: 0.4 },
      ],
      rows: [age, concert, singer, singerId],
      maxChunks: 40,
      maxTokens: 30,
      countTokens,
    });
    expect(tight.tokens).toBeLessThanOrEqual(30);
    expect(tight.chunks.length).toBeGreaterThan(0);
  });

  it("ranks a table of the schema with the most evidence above an equal match in a weaker schema", () => {
    const inSchema = (entry: EmbeddingRow, schemaName: string): EmbeddingRow => ({ ...entry, schemaName });
    const flights = inSchema(row("table", "flights"), "travel");
    const airports = inSchema(row("table", "airports"), "travel");
    const otherAirports = inSchema(row("table", "airports"), "logistics");
    const rows = new Map([flights, airports, otherAirports].map((entry) => [entry.id, entry]));
    const ranked = rankTables(
      [
        { id: otherAirports.id, score: 0.5 },
        { id: airports.id, score: 0.5 },
        { id: flights.id, score: 0.4 },
      ],
      rows,
    );
    expect(ranked.map((table) => `${table.schema}.${table.table}`)).toEqual([
      "travel.airports",
      "travel.flights",
      "logistics.airports",
    ]);
    expect(ranked[0].schemaFactor).toBe(1);
    expect(ranked[2].schemaFactor).toBeLessThan(1);
    // Within one schema the weight changes nothing.
    const single = rankTables(
      [
        { id: airports.id, score: 0.5 },
        { id: flights.id, score: 0.4 },
      ],
      rows,
    );
    expect(single.map((table) => table.score)).toEqual([0.5, 0.4]);
  });

  it("offers a chosen table's other columns after its hits and keys, in catalog order, within the budgets", () => {
    const country = row("table", "country", {
      columns: [{ name: "code" }, { name: "name" }, { name: "continent" }, { name: "region" }],
    });
    const code = row("column", "country", { column: "code", type: "text", primaryKey: true });
    const name = row("column", "country", { column: "name", type: "text" });
    const continent = row("column", "country", { column: "continent", type: "text" });
    const region = row("column", "country", { column: "region", type: "text" });
    const result = assembleContext({
      hits: [
        { id: continent.id, score: 0.8 },
        { id: country.id, score: 0.6 },
      ],
      rows: [continent, country, code],
      columnRows: [region, name],
      maxChunks: 40,
      maxTokens: 4000,
      countTokens,
    });
    expect(result.chunks.map((chunk) => [chunk.row.metadata.column ?? chunk.row.kind, chunk.reason])).toEqual([
      ["table", "direct_hit"],
      ["continent", "direct_hit"],
      ["code", "key_column"],
      ["name", "table_context"],
      ["region", "table_context"],
    ]);
    // Only hits carry a relevance; everything brought in around them scores 0.
    expect(result.chunks.filter((chunk) => chunk.reason !== "direct_hit").every((chunk) => chunk.score === 0)).toBe(
      true,
    );
    const small = assembleContext({
      hits: [
        { id: continent.id, score: 0.8 },
        { id: country.id, score: 0.6 },
      ],
      rows: [continent, country, code],
      columnRows: [region, name],
      maxChunks: 3,
      maxTokens: 4000,
      countTokens,
    });
    expect(small.chunks.map((chunk) => chunk.reason)).not.toContain("table_context");
    expect(small.truncated).toBe(true);
  });

  it("scores a column hit by its own relevance, its schema's standing and a share of its table's evidence", () => {
    const inSchema = (entry: EmbeddingRow, schemaName: string): EmbeddingRow => ({ ...entry, schemaName });
    const strong = inSchema(row("table", "airports"), "travel");
    const city = inSchema(row("column", "airports", { column: "city", type: "text" }), "travel");
    const weak = inSchema(row("table", "cities"), "census");
    const cityName = inSchema(row("column", "cities", { column: "city_name", type: "text" }), "census");
    const result = assembleContext({
      hits: [
        { id: cityName.id, score: 0.5 },
        { id: strong.id, score: 0.5 },
        { id: city.id, score: 0.45 },
        { id: weak.id, score: 0.1 },
      ],
      rows: [strong, city, weak, cityName],
      maxChunks: 40,
      maxTokens: 4000,
      countTokens,
    });
    const score = (id: string) => result.chunks.find((chunk) => chunk.row.id === id)?.score ?? -1;
    // The weaker match in the table (and schema) the question is about ranks first.
    expect(score(city.id)).toBeGreaterThan(score(cityName.id));
  });
});

describe("context budgets", () => {
  /** A wide table: its chunk, 150 column chunks (hits), one key column. */
  function wideTable() {
    const names = Array.from({ length: 150 }, (_, index) => `attribute_${index}`);
    const table = row("table", "wide", { description: "Many columns", columns: names.map((name) => ({ name })) });
    const columns = names.map((name, index) =>
      row("column", "wide", { column: name, type: "text", primaryKey: index === 0 }),
    );
    const hits = [table, ...columns].map((entry, index) => ({ id: entry.id, score: 1 - index / 1000 }));
    return { rows: [table, ...columns], hits };
  }

  it("counts each piece of the text about once: counting is linear in the context, not quadratic", () => {
    const { rows, hits } = wideTable();
    let counted = 0;
    const result = assembleContext({
      hits,
      rows,
      maxChunks: 200,
      maxTokens: 100_000,
      countTokens: (text, limit) => {
        counted += text.length;
        return countTokens(text) > (limit ?? Infinity) ? (limit ?? 0) + 1 : countTokens(text);
      },
    });
    expect(result.chunks).toHaveLength(151);
    const contents = rows.reduce((sum, entry) => sum + entry.content.length, 0);
    // Each chunk's piece once, the final text once, each chunk's content once, plus the table's column
    // list (shown until a column joins). Re-counting the growing block per chunk would be ~75 texts.
    expect(counted).toBeLessThanOrEqual(3 * result.text.length + contents);
  });

  it("stays within max_tokens when line breaks cost more than the fill estimated, and says it cut", () => {
    const { rows, hits } = wideTable();
    // A counter to which every line break costs 5 tokens: the fill's estimate (1) falls short.
    const costly = (text: string) => countTokens(text) + 5 * (text.split("\n").length - 1);
    for (const maxTokens of [64, 200, 777, 1500]) {
      const result = assembleContext({ hits, rows, maxChunks: 200, maxTokens, countTokens: costly });
      expect(result.tokens).toBe(costly(result.text));
      expect(result.tokens).toBeLessThanOrEqual(maxTokens);
      expect(result.truncated).toBe(true);
      expect(result.chunks.length).toBeGreaterThan(0);
    }
  });

  it("answers the same whatever order rows arrive in, two table chunks of one table included", () => {
    const { rows, hits } = wideTable();
    const byHand = row("table", "wide", {}, "table wide: notes written by hand");
    const all = [...rows.slice(0, 20), byHand];
    const input = {
      hits: [...hits.slice(0, 20), { id: byHand.id, score: 0.5 }],
      maxChunks: 40,
      maxTokens: 4000,
      countTokens,
    };
    const forward = assembleContext({ ...input, rows: all });
    const backward = assembleContext({ ...input, rows: [...all].reverse() });
    expect(backward.chunks.map((chunk) => chunk.row.id)).toEqual(forward.chunks.map((chunk) => chunk.row.id));
    expect(backward.text).toBe(forward.text);
  });
});
