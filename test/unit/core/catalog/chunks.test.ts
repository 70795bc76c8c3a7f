import { v5 } from "uuid";
import { describe, expect, it } from "vitest";
import {
  catalogChunkId,
  catalogChunks,
  identifierWords,
  validateCatalog,
  type CatalogChunk,
  type CatalogColumnInput,
  type CatalogInput,
  type CatalogTableInput,
} from "../../../../src/core/catalog/chunks.js";
import { createCompoundSplitter } from "../../../../src/core/catalog/identifier-words.js";
import { InvalidArgumentError } from "../../../../src/core/errors.js";

const CATALOG_ID = "0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f";
const OTHER_CATALOG_ID = "7d1e5a20-9b3c-4c8e-8f21-6a0b4c2d9e13";

function column(name: string, extra: Partial<CatalogColumnInput> = {}): CatalogColumnInput {
  return { name, type: "integer", description: "", primaryKey: false, ...extra };
}

function table(name: string, columns: CatalogColumnInput[], description = ""): CatalogTableInput {
  return { name, description, columns };
}

/** A small music catalog: `concert` references `stadium`; `singer_in_concert` references both. */
function musicCatalog(): CatalogInput {
  return {
    schemas: [
      {
        name: "concert_singer",
        description: "",
        tables: [
          table(
            "stadium",
            [column("Stadium_ID", { primaryKey: true }), column("Name", { type: "text" }), column("Capacity")],
            "Venues where concerts take place",
          ),
          table("concert", [
            column("concert_ID", { primaryKey: true }),
            column("concert_Name", { type: "text", description: "The billing name of the concert" }),
            column("Stadium_ID", {
              type: "text",
              references: { schemaName: "", tableName: "stadium", columnName: "Stadium_ID" },
            }),
          ]),
          table("singer", [
            column("Singer_ID", { primaryKey: true }),
            column("Name", { type: "text" }),
            column("IndepYear"),
          ]),
          table("singer_in_concert", [
            column("concert_ID", {
              primaryKey: true,
              references: { schemaName: "concert_singer", tableName: "concert", columnName: "concert_ID" },
            }),
            column("Singer_ID", {
              primaryKey: true,
              references: { schemaName: "", tableName: "singer", columnName: "Singer_ID" },
            }),
          ]),
        ],
      },
    ],
    documents: [
      {
        key: "q-1",
        kind: "example",
        content: "Q: How many singers are there?\nSQL: SELECT count(*) FROM singer",
        schemaName: "concert_singer",
        tableName: "singer",
        metadata: { source: "review" },
      },
      {
        key: "glossary/headliner",
        kind: "",
        content: "A headliner is the main act of a concert.",
        schemaName: "",
        tableName: "",
        metadata: {},
      },
    ],
  };
}

function byKey(chunks: CatalogChunk[], kind: string, naturalKey: string): CatalogChunk {
  const found = chunks.find((chunk) => chunk.kind === kind && chunk.naturalKey === naturalKey);
  if (found === undefined) throw new Error(`no ${kind} chunk ${naturalKey}`);
  return found;
}

/** The field path of the InvalidArgumentError `run` throws. */
function fieldOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error.field;
    throw error;
  }
  return "(no error)";
}

describe("catalogChunks ids", () => {
  it("are the same every time the same catalog is chunked, and differ per kind, natural key and catalog", () => {
    const first = catalogChunks(CATALOG_ID, musicCatalog());
    const again = catalogChunks(CATALOG_ID, musicCatalog());
    expect(again.map((chunk) => chunk.id)).toEqual(first.map((chunk) => chunk.id));
    expect(new Set(first.map((chunk) => chunk.id)).size).toBe(first.length);
    for (const chunk of first) {
      expect(chunk.id).toBe(catalogChunkId(CATALOG_ID, chunk.kind, chunk.naturalKey));
      expect(chunk.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    const other = catalogChunks(OTHER_CATALOG_ID, musicCatalog());
    expect(other.filter((chunk, index) => chunk.id === first[index].id)).toEqual([]);
    expect(catalogChunkId(CATALOG_ID, "table", "s.t")).not.toBe(catalogChunkId(CATALOG_ID, "column", "s.t"));
    expect(catalogChunkId(CATALOG_ID, "table", "s.t")).not.toBe(catalogChunkId(CATALOG_ID, "table", "s.T"));
  });

  it("are fixed forever: UUID v5 in CATALOG_CHUNK_NAMESPACE, the same as every earlier release computed", () => {
    // Changing an id turns the next sync of every catalog into "delete everything, add everything".
    expect(catalogChunkId("0B6F1C9E-3C1A-4F0E-9D5E-2A7C8B9D0E1F", "table", "music.albums")).toBe(
      "970e5e6e-7f16-546a-940c-99bf10cc6b4a",
    );
    expect(catalogChunkId("0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f", "column", "music.albums.title")).toBe(
      "26be656f-ac19-56f3-b9ff-f433cc05958d",
    );
  });

  it("do not depend on the catalog id's case or on the texts", () => {
    const lower = catalogChunks(CATALOG_ID, musicCatalog());
    const upper = catalogChunks(CATALOG_ID.toUpperCase(), musicCatalog());
    expect(upper.map((chunk) => chunk.id)).toEqual(lower.map((chunk) => chunk.id));
    expect(upper[0].catalogId).toBe(CATALOG_ID);
    const described = musicCatalog();
    described.schemas[0].tables[0].description = "Arenas and halls";
    expect(catalogChunks(CATALOG_ID, described).map((chunk) => chunk.id)).toEqual(lower.map((chunk) => chunk.id));
  });

  it("derive from the UUID v5 of catalog id, kind and natural key", () => {
    const expected = v5(`${CATALOG_ID}\u0000table\u0000concert_singer.stadium`, "eb861a42-b88f-401c-956b-a84bd9c0d778");
    expect(byKey(catalogChunks(CATALOG_ID, musicCatalog()), "table", "concert_singer.stadium").id).toBe(expected);
  });
});

describe("catalogChunks contents", () => {
  const chunks = catalogChunks(CATALOG_ID, musicCatalog());

  it("makes one chunk per table, per column and per document, tables followed by their columns", () => {
    expect(chunks.map((chunk) => `${chunk.kind} ${chunk.naturalKey}`)).toEqual([
      "table concert_singer.stadium",
      "column concert_singer.stadium.Stadium_ID",
      "column concert_singer.stadium.Name",
      "column concert_singer.stadium.Capacity",
      "table concert_singer.concert",
      "column concert_singer.concert.concert_ID",
      "column concert_singer.concert.concert_Name",
      "column concert_singer.concert.Stadium_ID",
      "table concert_singer.singer",
      "column concert_singer.singer.Singer_ID",
      "column concert_singer.singer.Name",
      "column concert_singer.singer.IndepYear",
      "table concert_singer.singer_in_concert",
      "column concert_singer.singer_in_concert.concert_ID",
      "column concert_singer.singer_in_concert.Singer_ID",
      "example q-1",
      "document glossary/headliner",
    ]);
    for (const chunk of chunks.filter((chunk) => chunk.kind === "table" || chunk.kind === "column")) {
      expect(chunk.schemaName).toBe("concert_singer");
      expect(chunk.tableName).toBe(chunk.naturalKey.split(".")[1]);
    }
  });

  it("writes a table text with its name and words, schema, description, key, related tables and columns in words", () => {
    expect(byKey(chunks, "table", "concert_singer.concert").content).toBe(
      [
        "Table: concert (concert)",
        "Schema: concert_singer (concert singer)",
        "Primary key of concert: concert id",
        "Related tables: singer in concert, stadium",
        "Columns of concert: concert id, concert name (The billing name of the concert), stadium id",
      ].join("\n"),
    );
    const stadium = byKey(chunks, "table", "concert_singer.stadium").content;
    expect(stadium).toContain("Description: Venues where concerts take place");
    expect(byKey(chunks, "table", "concert_singer.singer").content).toContain(
      "Columns of singer: singer id, name, indep year",
    );
  });

  it("writes a column text with its words, table, type, description and relations", () => {
    expect(byKey(chunks, "column", "concert_singer.concert.concert_Name").content).toBe(
      [
        "Column: concert_Name (concert name)",
        "Table: concert (concert)",
        "Type: text",
        "Description: The billing name of the concert",
      ].join("\n"),
    );
    expect(byKey(chunks, "column", "concert_singer.concert.concert_ID").content).toBe(
      [
        "Column: concert_ID (concert id)",
        "Table: concert (concert)",
        "Type: integer",
        "Primary key of concert (concert). Referenced by singer_in_concert.concert_ID (singer in concert concert id).",
      ].join("\n"),
    );
    expect(byKey(chunks, "column", "concert_singer.concert.Stadium_ID").content).toContain(
      "References stadium.Stadium_ID (stadium stadium id).",
    );
  });

  it("names the schema in column texts only when the catalog has several schemas", () => {
    const two = musicCatalog();
    two.schemas.push({
      name: "sales",
      description: "",
      tables: [table("orders", [column("id", { primaryKey: true })])],
    });
    expect(byKey(chunks, "column", "concert_singer.singer.Name").content).not.toContain("Schema:");
    expect(byKey(catalogChunks(CATALOG_ID, two), "column", "concert_singer.singer.Name").content).toContain(
      "Schema: concert_singer (concert singer)",
    );
  });

  it("repeats the start of a schema's description in its tables' texts when there are several schemas", () => {
    const two = musicCatalog();
    two.schemas[0].description = `Concerts and who sang at them. ${"More detail. ".repeat(40)}`;
    two.schemas.push({
      name: "sales",
      description: "",
      tables: [table("orders", [column("id", { primaryKey: true })])],
    });
    const text = byKey(catalogChunks(CATALOG_ID, two), "table", "concert_singer.singer").content;
    expect(text).toMatch(
      /^Schema: concert_singer \(concert singer\): Concerts and who sang at them\. More detail\. .*\.\.\.$/m,
    );
    expect(
      Buffer.byteLength(text.split("\n")[1].slice("Schema: concert_singer (concert singer): ".length)),
    ).toBeLessThanOrEqual(200);
    expect(
      byKey(
        catalogChunks(CATALOG_ID, { ...musicCatalog(), schemas: [two.schemas[0]] }),
        "table",
        "concert_singer.singer",
      ).content,
    ).toContain("Schema: concert_singer (concert singer)\n");
  });

  it("carries structured facts in metadata, identifiers as given", () => {
    expect(byKey(chunks, "table", "concert_singer.concert").metadata).toEqual({
      schema: "concert_singer",
      table: "concert",
      description: "",
      columns: [
        { name: "concert_ID", type: "integer", primaryKey: true, references: null },
        { name: "concert_Name", type: "text", primaryKey: false, references: null },
        {
          name: "Stadium_ID",
          type: "text",
          primaryKey: false,
          references: { schema: "concert_singer", table: "stadium", column: "Stadium_ID" },
        },
      ],
    });
    expect(byKey(chunks, "column", "concert_singer.stadium.Stadium_ID").metadata).toEqual({
      schema: "concert_singer",
      table: "stadium",
      column: "Stadium_ID",
      type: "integer",
      primaryKey: true,
      references: null,
      referencedBy: [{ schema: "concert_singer", table: "concert", column: "Stadium_ID" }],
      description: "",
    });
    // Metadata is plain JSON (it goes to a jsonb column as is).
    for (const chunk of chunks) expect(JSON.parse(JSON.stringify(chunk.metadata))).toEqual(chunk.metadata);
  });

  it("turns documents into chunks of their kind (default document), content and metadata as given", () => {
    const example = byKey(chunks, "example", "q-1");
    expect(example).toMatchObject({
      content: "Q: How many singers are there?\nSQL: SELECT count(*) FROM singer",
      metadata: { source: "review" },
      schemaName: "concert_singer",
      tableName: "singer",
    });
    expect(example.id).toBe(catalogChunkId(CATALOG_ID, "example", "q-1"));
    expect(byKey(chunks, "document", "glossary/headliner")).toMatchObject({
      schemaName: null,
      tableName: null,
      metadata: {},
    });
  });

  it("finds a document's schema from its table when the table name is unique", () => {
    const catalog = musicCatalog();
    catalog.documents[0].schemaName = "";
    expect(byKey(catalogChunks(CATALOG_ID, catalog), "example", "q-1").schemaName).toBe("concert_singer");
  });

  it("keeps every text within the budget even with names of 256 bytes in long lists", () => {
    const long = (prefix: string, i: number): string =>
      `${prefix}_${i}_${"w".repeat(250 - prefix.length)}`.slice(0, 256);
    const hub = table(
      long("hub", 0),
      Array.from({ length: 100 }, (_, i) => column(long("key", i), { primaryKey: true })),
    );
    const spokes = Array.from({ length: 100 }, (_, t) =>
      table(long("spoke", t), [
        column(long("ref", t), {
          references: { schemaName: "", tableName: hub.name, columnName: hub.columns[0].name },
          description: "d".repeat(8192),
        }),
      ]),
    );
    const catalog: CatalogInput = {
      schemas: [{ name: long("schema", 0), description: "s ".repeat(4000), tables: [hub, ...spokes] }],
      documents: [],
    };
    for (const chunk of catalogChunks(CATALOG_ID, catalog, { maxTokens: 2000 })) {
      expect(Buffer.byteLength(chunk.content)).toBeLessThanOrEqual(2000);
    }
    const hubText = byKey(
      catalogChunks(CATALOG_ID, catalog, { maxTokens: 30_000 }),
      "table",
      `${catalog.schemas[0].name}.${hub.name}`,
    ).content;
    expect(hubText).toMatch(/Related tables: .* and 80 more/);
  });

  it("keeps table texts within the token budget, counting the columns it leaves out", () => {
    const wide: CatalogInput = {
      schemas: [
        {
          name: "public",
          description: "x".repeat(8192),
          tables: [
            table(
              "wide",
              Array.from({ length: 1000 }, (_, i) => column(`measurement_${i}`)),
              "d ".repeat(4096),
            ),
          ],
        },
      ],
      documents: [],
    };
    const countTokens = (text: string): number => text.split(/\s+/).length;
    for (const maxTokens of [200, 1000]) {
      const text = byKey(catalogChunks(CATALOG_ID, wide, { countTokens, maxTokens }), "table", "public.wide").content;
      expect(countTokens(text)).toBeLessThanOrEqual(maxTokens);
      expect(text).toMatch(/Columns of wide: measurement 0, .*, and \d+ more columns$/);
      expect(text).toContain("Description: d d d");
    }
    // Without a tokenizer bytes are counted, an upper bound of tokens.
    expect(
      Buffer.byteLength(byKey(catalogChunks(CATALOG_ID, wide), "table", "public.wide").content),
    ).toBeLessThanOrEqual(8000);
  });
});

describe("validateCatalog", () => {
  it("accepts a valid catalog and an empty one", () => {
    expect(() => validateCatalog(musicCatalog())).not.toThrow();
    expect(() => validateCatalog({ schemas: [], documents: [] })).not.toThrow();
  });

  const cases: [string, (catalog: CatalogInput) => void, string][] = [
    ["blank schema name", (c) => (c.schemas[0].name = " "), "catalog.schemas[0].name"],
    [
      "table name over 256 bytes",
      (c) => (c.schemas[0].tables[2].name = "é".repeat(129)),
      "catalog.schemas[0].tables[2].name",
    ],
    [
      "missing column name",
      (c) => (c.schemas[0].tables[1].columns[2].name = ""),
      "catalog.schemas[0].tables[1].columns[2].name",
    ],
    ["duplicate schema", (c) => c.schemas.push({ ...c.schemas[0], tables: [] }), "catalog.schemas[1].name"],
    [
      "duplicate table in a schema",
      (c) => c.schemas[0].tables.push(table("singer", [])),
      "catalog.schemas[0].tables[4].name",
    ],
    [
      "duplicate column in a table",
      (c) => c.schemas[0].tables[2].columns.push(column("Name")),
      "catalog.schemas[0].tables[2].columns[3].name",
    ],
    ["duplicate document key", (c) => c.documents.push({ ...c.documents[0] }), "catalog.documents[2].key"],
    [
      "reference to an unknown table",
      (c) =>
        (c.schemas[0].tables[3].columns[1].references = {
          schemaName: "",
          tableName: "singers",
          columnName: "Singer_ID",
        }),
      "catalog.schemas[0].tables[3].columns[1].references",
    ],
    [
      "reference to an unknown column",
      (c) =>
        (c.schemas[0].tables[1].columns[2].references = {
          schemaName: "",
          tableName: "stadium",
          columnName: "stadium_id",
        }),
      "catalog.schemas[0].tables[1].columns[2].references",
    ],
    [
      "reference to an unknown schema",
      (c) =>
        (c.schemas[0].tables[1].columns[2].references = {
          schemaName: "public",
          tableName: "stadium",
          columnName: "Stadium_ID",
        }),
      "catalog.schemas[0].tables[1].columns[2].references",
    ],
    [
      "reference without a column",
      (c) => (c.schemas[0].tables[1].columns[2].references = { schemaName: "", tableName: "stadium", columnName: "" }),
      "catalog.schemas[0].tables[1].columns[2].references.column_name",
    ],
    [
      "table description over 8,192 bytes",
      (c) => (c.schemas[0].tables[0].description = "x".repeat(8193)),
      "catalog.schemas[0].tables[0].description",
    ],
    [
      "column description over 8,192 bytes",
      (c) => (c.schemas[0].tables[0].columns[1].description = "x".repeat(8193)),
      "catalog.schemas[0].tables[0].columns[1].description",
    ],
    [
      "document content over 65,536 bytes",
      (c) => (c.documents[1].content = "x".repeat(65_537)),
      "catalog.documents[1].content",
    ],
    ["blank document content", (c) => (c.documents[1].content = "\n"), "catalog.documents[1].content"],
    ["blank document key", (c) => (c.documents[0].key = ""), "catalog.documents[0].key"],
    ["document kind reserved for tables", (c) => (c.documents[0].kind = "table"), "catalog.documents[0].kind"],
    [
      "document about an unknown table",
      (c) => (c.documents[0].tableName = "singers"),
      "catalog.documents[0].table_name",
    ],
    [
      "document about a table two schemas have, without its schema",
      (c) => {
        c.schemas.push({ name: "archive", description: "", tables: [table("singer", [])] });
        c.documents[0].schemaName = "";
      },
      "catalog.documents[0].table_name",
    ],
    [
      "document about an unknown schema",
      (c) => (c.documents[0].schemaName = "public"),
      "catalog.documents[0].schema_name",
    ],
    [
      "NUL in a name",
      (c) => (c.schemas[0].tables[0].columns[0].name = "a\u0000b"),
      "catalog.schemas[0].tables[0].columns[0].name",
    ],
    [
      "names whose dotted natural keys collide",
      (c) =>
        c.schemas.push(
          { name: "concert_singer.singer", description: "", tables: [table("Name", [])] },
          { name: "concert_singer", description: "", tables: [] },
        ),
      "catalog.schemas[2].name",
    ],
    [
      "more than 1,000 columns in a table",
      (c) => (c.schemas[0].tables[0].columns = Array.from({ length: 1001 }, (_, i) => column(`c${i}`))),
      "catalog.schemas[0].tables[0].columns",
    ],
    [
      "more than 1,000 schemas",
      (c) => (c.schemas = Array.from({ length: 1001 }, (_, i) => ({ name: `s${i}`, description: "", tables: [] }))),
      "catalog.schemas",
    ],
    [
      "more than 10,000 documents",
      (c) =>
        (c.documents = Array.from({ length: 10_001 }, (_, i) => ({
          key: `k${i}`,
          kind: "",
          content: "x",
          schemaName: "",
          tableName: "",
          metadata: {},
        }))),
      "catalog.documents",
    ],
  ];
  it.each(cases)("refuses %s, naming the field", (_, spoil, field) => {
    const catalog = musicCatalog();
    spoil(catalog);
    expect(fieldOf(() => validateCatalog(catalog))).toBe(field);
    expect(fieldOf(() => catalogChunks(CATALOG_ID, catalog))).toBe(field);
  });

  it("refuses more than 10,000 tables in the catalog, naming the first table over the limit", () => {
    const schemas = Array.from({ length: 11 }, (_, s) => ({
      name: `s${s}`,
      description: "",
      tables: Array.from({ length: 1000 }, (_, t) => table(`t${t}`, [])),
    }));
    expect(fieldOf(() => validateCatalog({ schemas, documents: [] }))).toBe("catalog.schemas[10].tables[0]");
  });

  it("refuses more than 250,000 columns in the catalog, naming the table that goes over", () => {
    const schemas = [
      {
        name: "s",
        description: "",
        tables: Array.from({ length: 251 }, (_, t) =>
          table(
            `t${t}`,
            Array.from({ length: 1000 }, (_, c) => column(`c${c}`)),
          ),
        ),
      },
    ];
    expect(fieldOf(() => validateCatalog({ schemas, documents: [] }))).toBe("catalog.schemas[0].tables[250].columns");
  });

  it("says what is wrong and uses the field prefix it is given", () => {
    const catalog = musicCatalog();
    catalog.schemas[0].tables[3].columns[1].references = {
      schemaName: "",
      tableName: "singers",
      columnName: "Singer_ID",
    };
    expect(() => validateCatalog(catalog, "request.catalog")).toThrow(
      'request.catalog.schemas[0].tables[3].columns[1].references: references table "concert_singer.singers", which the catalog does not have',
    );
  });

  it("refuses a bad catalog id", () => {
    expect(fieldOf(() => catalogChunks("not-a-uuid", musicCatalog()))).toBe("catalog_id");
  });
});

describe("identifierWords", () => {
  it("splits snake_case, camelCase, acronyms and digits into lower-case words", () => {
    expect(identifierWords("concert_ID")).toEqual(["concert", "id"]);
    expect(identifierWords("IndepYear")).toEqual(["indep", "year"]);
    expect(identifierWords("HTMLParser")).toEqual(["html", "parser"]);
    expect(identifierWords("area2code")).toEqual(["area", "2", "code"]);
    expect(identifierWords("Official_ratings_(millions)")).toEqual(["official", "ratings", "millions"]);
    expect(identifierWords("Größe_in_m²")).toEqual(["größe", "in", "m", "²"]);
  });
});

describe("createCompoundSplitter", () => {
  const split = createCompoundSplitter([
    "Country",
    "countrylanguage",
    "Language",
    "hire_date",
    "lineage",
    "line",
    "age",
    "Ship",
  ]);

  it("splits a run-together word into two words the catalog spells out elsewhere", () => {
    expect(split("countrylanguage")).toEqual(["country", "language"]);
    expect(split("hiredate")).toEqual(["hire", "date"]);
  });

  it("leaves words alone when a half is short, unknown, or not plain ASCII lower case", () => {
    expect(split("lineage")).toEqual(["lineage"]);
    expect(split("countrycode")).toEqual(["countrycode"]);
    expect(split("Countrylanguage")).toEqual(["Countrylanguage"]);
  });

  it("lets table and column texts use the split words", () => {
    const catalog: CatalogInput = {
      schemas: [
        {
          name: "world",
          description: "",
          tables: [
            table("country", [column("Code", { primaryKey: true })]),
            table("countrylanguage", [column("Language")]),
          ],
        },
      ],
      documents: [],
    };
    expect(byKey(catalogChunks(CATALOG_ID, catalog), "table", "world.countrylanguage").content).toContain(
      "Table: countrylanguage (country language)",
    );
  });
});
