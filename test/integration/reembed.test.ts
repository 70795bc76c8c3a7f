// Switching the embedding model without downtime, end to end on a real Postgres and the embedded
// Qdrant: the service serves through the alias QDRANT_COLLECTION_NAME while `npm run reembed` builds
// the new model's collection (stopped half-way, then resumed by the real CLI), catches up with writes
// made meanwhile, and flips the alias; a service on the old model then refuses, one on the new serves.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpsertOutcome } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import { createConfiguredEmbedder } from "../../src/backends/embedder.js";
import { runReembed } from "../../src/backends/reembed.js";
import { loadConfig } from "../../src/config.js";
import type { Embedder } from "../../src/embedders/embedder.js";
import { createFakeOpenAIServer, type FakeOpenAIServer } from "../helpers/fake-openai-server.js";
import { createRestartableQdrant } from "../helpers/restartable-qdrant.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";
import { createTestDatabase, testDatabaseTarget, type TestDatabase } from "../helpers/test-database.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NEW_MODEL = "text-embedding-3-small";
const NEW_COLLECTION = `embeddings__${NEW_MODEL}__32`;
const silent = pino({ level: "silent" });

describe.skipIf(testDatabaseTarget().kind !== "postgres")("npm run reembed: a model switch without downtime", () => {
  let qdrant: Awaited<ReturnType<typeof createRestartableQdrant>>;
  let openai: FakeOpenAIServer;
  let database: TestDatabase;
  let oldApp: TestApp | undefined;
  let inspect: QdrantClient;
  let oldEnv: Record<string, string>;
  let newEnv: Record<string, string>;
  const catalogId = randomUUID();
  const ids = Array.from({ length: 40 }, () => randomUUID());

  const upsert = (app: TestApp, id: string, content: string) =>
    app.embeddings.upsertEmbedding({ embedding: { id, catalogId, kind: "table", content } });
  const aliases = async () =>
    (await inspect.api("collections").listAliases({})).aliases.map((a) => [a.aliasName, a.collectionName]);
  const pointsIn = async (collectionName: string) =>
    Number((await inspect.api("collections").get({ collectionName })).result?.pointsCount ?? -1n);

  beforeAll(async () => {
    qdrant = await createRestartableQdrant();
    await qdrant.start();
    openai = createFakeOpenAIServer();
    const { baseURL } = await openai.start();
    database = await createTestDatabase();
    oldEnv = { ...qdrant.env, EMBEDDING_DIMENSIONS: "64" }; // the local embedder
    newEnv = {
      ...qdrant.env,
      OPENAI_API_KEY: "sk-fake-reembed",
      OPENAI_BASE_URL: baseURL,
      EMBEDDING_MODEL: NEW_MODEL,
      EMBEDDING_DIMENSIONS: "32",
    };
    inspect = new QdrantClient({ host: "127.0.0.1", port: qdrant.port, compression: false, checkCompatibility: false });
    oldApp = await startTestApp({ database, env: oldEnv });
    await oldApp.embeddings.batchUpsertEmbeddings({
      embeddings: ids.map((id, index) => ({
        id,
        catalogId,
        kind: "table",
        content: `Table: orders_${index} holds customer orders number ${index}`,
      })),
    });
  });

  afterAll(async () => {
    await oldApp?.stop();
    await database?.drop();
    await openai?.stop();
    await qdrant?.dispose();
  });

  it("a fresh service creates its model's collection behind the alias", async () => {
    const [[alias, collection]] = await aliases();
    expect(alias).toBe("embeddings");
    expect(collection).toMatch(/^embeddings__local-hash-v\d+__64$/);
    expect(await pointsIn(collection)).toBe(40);
  });

  it("builds the new collection, resumes after a failure, catches up with writes made meanwhile, then flips the alias", async () => {
    const [[, oldCollection]] = await aliases();
    const config = loadConfig({ DATABASE_URL: database.url, ...newEnv, QDRANT_PORT: "0", LOG_LEVEL: "silent" });

    // 1. A run that fails at its second page (the embedding API goes away): nothing flips, the service
    //    keeps serving the old collection, the new one holds the first page.
    const real = await createConfiguredEmbedder(config, silent);
    let calls = 0;
    const failing: Embedder = {
      name: real.name,
      model: real.model,
      dimensions: real.dimensions,
      relevanceFloor: real.relevanceFloor,
      countTokens: (text) => real.countTokens(text),
      embed: (inputs, options) =>
        ++calls === 2 ? Promise.reject(new Error("injected: embeddings API unreachable")) : real.embed(inputs, options),
    };
    await expect(
      runReembed({ config, model: NEW_MODEL, dimensions: 32, batchSize: 10, logger: silent, embedder: failing }),
    ).rejects.toThrow("injected");
    expect(await aliases()).toEqual([["embeddings", oldCollection]]);
    expect(await pointsIn(NEW_COLLECTION)).toBe(10);
    const served = await oldApp!.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "orders 7" } });
    expect(served.hits.length).toBeGreaterThan(0);

    // 2. The real CLI resumes (--build-only): only the 30 rows not yet built are sent to the embeddings API.
    openai.reset();
    const cli = await runCli(["--model", NEW_MODEL, "--dimensions", "32", "--batch-size", "10", "--build-only"], {
      DATABASE_URL: database.url,
      ...newEnv,
      QDRANT_PORT: "0",
    });
    expect(cli.code, cli.output).toBe(0);
    expect(openai.requests.flatMap((request) => request.input)).toHaveLength(30);
    expect(new Set(openai.requests.map((request) => request.model))).toEqual(new Set([NEW_MODEL]));
    expect(cli.output).toContain("left unchanged (--build-only)");
    expect(await aliases()).toEqual([["embeddings", oldCollection]]);
    expect(await pointsIn(NEW_COLLECTION)).toBe(40);

    // 3. The service keeps taking writes: one row changes, one is deleted, one is added.
    await upsert(oldApp!, ids[0], "Table: orders_0 now holds refunds");
    await oldApp!.embeddings.deleteEmbedding({ id: ids[1], catalogId });
    const added = randomUUID();
    await upsert(oldApp!, added, "Table: shipments holds parcels");

    // 4. The final run: the build pass picks up those three; between catch-up and flip the service
    //    writes twice more (into the old collection), which the after-flip pass brings over.
    const late = randomUUID();
    const result = await runReembed({
      config,
      model: NEW_MODEL,
      dimensions: 32,
      batchSize: 10,
      logger: silent,
      afterPass: async (pass) => {
        if (pass === "catch-up") {
          await upsert(oldApp!, late, "Table: invoices holds billing documents");
          await upsert(oldApp!, ids[2], "Table: orders_2 now holds archived orders");
        }
      },
    });
    expect(result).toMatchObject({ alias: "embeddings", collection: NEW_COLLECTION, previous: oldCollection });
    expect(result.report?.flipped).toBe(true);
    expect(result.report?.passes.build).toMatchObject({ scanned: 40, embedded: 2 });
    expect(result.report?.passes["catch-up"]).toMatchObject({ scanned: 40, embedded: 0, removed: 1 });
    expect(result.report?.passes["after-flip"]).toMatchObject({ scanned: 41, embedded: 2, removed: 0, relabeled: 41 });

    expect(await aliases()).toEqual([["embeddings", NEW_COLLECTION]]);
    expect(await pointsIn(NEW_COLLECTION)).toBe(41);
    // The new collection's points carry each row's current content hash and the new model; the deleted
    // row has none; every row now names the new model (so the service will not embed it again).
    const listed = await oldApp!.running.metadata.listRows({ limit: 1000 });
    expect(new Set(listed.map((row) => row.model))).toEqual(new Set([NEW_MODEL]));
    const rows = new Map(listed.map((row) => [row.id, `${row.contentHash} ${NEW_MODEL}`]));
    const scrolled = await inspect.api("points").scroll({
      collectionName: NEW_COLLECTION,
      limit: 1000,
      withPayload: { selectorOptions: { case: "enable", value: true } },
    });
    const hashes = new Map(
      scrolled.result.map((point) => [
        point.id?.pointIdOptions.value as string,
        `${point.payload.content_hash?.kind.value} ${point.payload.model?.kind.value}`,
      ]),
    );
    expect(hashes).toEqual(rows);
    expect(hashes.has(ids[1])).toBe(false);
    // The old collection is left intact for the operator to drop.
    expect(await pointsIn(oldCollection)).toBe(41);
  });

  it("a replica still on the old model stops serving once the alias flips, instead of mixing models", async () => {
    await expect(oldApp!.running.vectors.ping()).rejects.toThrow(
      `points at collection "${NEW_COLLECTION}", built with model "${NEW_MODEL}" (32 dimensions)`,
    );
    const refused = await oldApp!.retrieval
      .searchEmbeddings({ catalogId, query: { case: "text", value: "orders" } })
      .catch((error: unknown) => error);
    expect(ConnectError.from(refused).code).toBe(Code.FailedPrecondition);
  });

  it("the service refuses to start on the old model, and serves on the new one", async () => {
    await expect(startTestApp({ database, env: oldEnv })).rejects.toThrow(
      new RegExp(
        `^Qdrant alias "embeddings" points at collection "${NEW_COLLECTION}", built with model "${NEW_MODEL}" \\(32 dimensions\\)`,
      ),
    );
    const newApp = await startTestApp({ database, env: newEnv });
    try {
      // An unchanged row sent again is not embedded again: the switch paid for it once.
      openai.reset();
      const again = await upsert(newApp, ids[5], "Table: orders_5 holds customer orders number 5");
      expect(again.outcome).toBe(UpsertOutcome.UNCHANGED);
      expect(openai.requests).toEqual([]);
      // The fake OpenAI embeds equal texts to equal vectors: the row's own text finds it first.
      const found = await newApp.retrieval.searchEmbeddings({
        catalogId,
        query: { case: "text", value: "Table: invoices holds billing documents" },
      });
      expect(found.hits[0]?.embedding?.content).toBe("Table: invoices holds billing documents");
    } finally {
      await newApp.stop();
    }
  });
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/reembed.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => resolve({ code, output }));
  });
}
