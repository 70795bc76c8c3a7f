/**
 * npm run bench:chaos [-- --seconds 40 --writers 8]
 *
 * Bounded chaos against the real Postgres (DATABASE_URL, default postgres://dq:dq@127.0.0.1:5432/postgres,
 * in a database of its own) and the embedded Qdrant as its own process (src/cli/embedded-qdrant.ts on an
 * ephemeral port with a data directory). N writers call the service over gRPC (unary, batch and stream
 * upserts, deletes, status changes, cross-catalog attempts, some with very short deadlines) while the
 * bench kills the service's Postgres backends (pg_terminate_backend) and kill -9s and restarts Qdrant.
 * Then it lets the repairer finish, and checks the invariants:
 *   1. every acknowledged write is in both stores with its content and vector (or a later write's,
 *      for ids whose later call failed: such a call may have been finished by the repairer);
 *   2. no id ever changes catalog; cross-catalog calls never succeed;
 *   3. after repair no intent is left, no row lacks its point, reconcile reports zero drift.
 * Prints the figures and writes bench/results/chaos-<time>.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { pino } from "pino";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { contentHash } from "../../src/core/hash.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { EmbeddingStatus } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import {
  EmbeddingService,
  StreamUpsertEmbeddingsRequestSchema,
} from "../../gen/dq/embeddings/v1/embedding_service_pb.js";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "40" },
    writers: { type: "string", default: "8" },
    "ids-per-writer": { type: "string", default: "60" },
  },
});
const SECONDS = Number(args.seconds);
const WRITERS = Number(args.writers);
const IDS_PER_WRITER = Number(args["ids-per-writer"]);
const DIMENSIONS = 64;
const ADMIN_URL = process.env.DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres";

/**
 * What a writer knows of one id: the states it may be in. An acknowledged call maps every possible
 * state through itself; a failed call may or may not have happened (the repairer may finish it), so
 * it adds its outcomes to the possibilities. Without failures there is exactly one.
 */
interface Expected {
  catalogId: string;
  possible: State[];
}
type State =
  { deleted: true } | { deleted: false; content: string; seed: number; status: "pending" | "accepted" | "rejected" };

function vectorOf(seed: number): number[] {
  return Array.from({ length: DIMENSIONS }, (_, index) => Math.sin(seed * 0.37 + index * 0.61) + 0.02);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`port ${port} did not open`);
}

function startQdrant(port: number, dataDir: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/embedded-qdrant.ts",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  const dbName = `dq_chaos_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  await runMigrations({ databaseUrl: dbUrl.toString(), logger });
  const killer = new pg.Client({ connectionString: dbUrl.toString() });
  await killer.connect();

  const dataDir = await mkdtemp(join(tmpdir(), "dq-chaos-qdrant-"));
  const qdrantPort = await freePort();
  let qdrant = startQdrant(qdrantPort, dataDir);
  await waitForPort(qdrantPort);

  const config = loadConfig({
    DATABASE_URL: dbUrl.toString(),
    QDRANT_HOST: "127.0.0.1",
    QDRANT_GRPC_PORT: String(qdrantPort),
    QDRANT_TIMEOUT_MS: "2000",
    EMBEDDING_DIMENSIONS: String(DIMENSIONS),
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: "0",
    METRICS_HOST: "127.0.0.1",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    REPAIR_INTERVAL_MS: "200",
    POSTGRES_POOL_SIZE: "12",
  });
  const app = createApp(config, { logger });
  const running = await app.start();
  const client = createClient(
    EmbeddingService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.grpcPort}` }),
  );

  const expected = new Map<string, Expected>();
  const codes: Record<string, number> = {};
  const ops: Record<string, number> = {};
  let crossCatalogSucceeded = 0;
  let crossCatalogAttempts = 0;
  let seedCounter = 1;
  let stop = false;
  const count = (code: string) => (codes[code] = (codes[code] ?? 0) + 1);

  const catalogs = Array.from({ length: WRITERS }, () => randomUUID());
  const idsOf = catalogs.map(() => Array.from({ length: IDS_PER_WRITER }, () => randomUUID()));
  // Anchors: written once before the chaos, then only ever targeted by other catalogs' calls.
  const ANCHORS = 10;
  const anchorsOf = catalogs.map(() => Array.from({ length: ANCHORS }, () => randomUUID()));
  for (const [index, catalogId] of catalogs.entries()) {
    await client.batchUpsertEmbeddings({
      embeddings: anchorsOf[index].map((id, k) => ({
        id,
        catalogId,
        kind: "table",
        content: `Table: anchor${index}_${k}`,
        vector: vectorOf(1_000_000 + index * 100 + k),
      })),
    });
    anchorsOf[index].forEach((id, k) =>
      expected.set(id, {
        catalogId,
        possible: [
          {
            deleted: false,
            content: `Table: anchor${index}_${k}`,
            seed: 1_000_000 + index * 100 + k,
            status: "pending",
          },
        ],
      }),
    );
  }

  /** Applies a call's outcome to the model of its ids. */
  function settle(
    ids: readonly string[],
    catalogId: string,
    next: (current: State) => State,
    error: ConnectError | undefined,
  ): void {
    for (const id of ids) {
      const entry = expected.get(id) ?? { catalogId, possible: [{ deleted: true }] };
      const after = entry.possible.map(next);
      const states = error === undefined ? after : [...entry.possible, ...after];
      entry.possible = [...new Map(states.map((state) => [JSON.stringify(state), state])).values()];
      expected.set(id, entry);
    }
  }

  async function call<T>(name: string, run: () => Promise<T>): Promise<ConnectError | undefined> {
    ops[name] = (ops[name] ?? 0) + 1;
    try {
      await run();
      count("OK");
      return undefined;
    } catch (caught) {
      const error = ConnectError.from(caught);
      count(Code[error.code]);
      return error;
    }
  }

  const deadline = () => (Math.random() < 0.15 ? { timeoutMs: 5 + Math.floor(Math.random() * 40) } : {});
  const upserted =
    (content: string, seed: number) =>
    (current: State): State => ({
      deleted: false,
      content,
      seed,
      status: current.deleted ? "pending" : current.status,
    });

  async function writer(index: number): Promise<void> {
    const catalogId = catalogs[index];
    const ids = idsOf[index];
    const pick = () => ids[Math.floor(Math.random() * ids.length)];
    while (!stop) {
      const roll = Math.random();
      if (roll < 0.3) {
        const id = pick();
        const seed = seedCounter++;
        const content = `Column: t${index}.c${seed}`;
        const error = await call("unary upsert", () =>
          client.upsertEmbedding(
            { embedding: { id, catalogId, kind: "column", content, vector: vectorOf(seed) } },
            deadline(),
          ),
        );
        settle([id], catalogId, upserted(content, seed), error);
      } else if (roll < 0.45) {
        const batch = [...new Set(Array.from({ length: 8 }, pick))].map((id) => ({ id, seed: seedCounter++ }));
        const error = await call("batch upsert", () =>
          client.batchUpsertEmbeddings(
            {
              embeddings: batch.map(({ id, seed }) => ({
                id,
                catalogId,
                kind: "column",
                content: `Column: b${seed}`,
                vector: vectorOf(seed),
              })),
            },
            deadline(),
          ),
        );
        for (const { id, seed } of batch) settle([id], catalogId, upserted(`Column: b${seed}`, seed), error);
      } else if (roll < 0.55) {
        // A stream: each message's acknowledgement covers exactly its own embeddings.
        const messages = Array.from({ length: 3 }, (_, m) =>
          [...new Set(Array.from({ length: 4 }, pick))].map((id) => ({ id, seed: seedCounter++, m })),
        );
        const seen = new Set<string>();
        const unique = messages.map((message) =>
          message.filter((item) => !seen.has(item.id) && (seen.add(item.id), true)),
        );
        const acked = new Set<bigint>();
        const error = await call("stream upsert", async () => {
          const requests = unique.map((message, m) =>
            create(StreamUpsertEmbeddingsRequestSchema, {
              sequence: BigInt(m + 1),
              embeddings: message.map(({ id, seed }) => ({
                id,
                catalogId,
                kind: "column",
                content: `Column: s${seed}`,
                vector: vectorOf(seed),
              })),
            }),
          );
          for await (const ack of client.streamUpsertEmbeddings(
            (async function* () {
              yield* requests.filter((request) => request.embeddings.length > 0);
            })(),
            deadline(),
          )) {
            acked.add(ack.sequence);
          }
        });
        unique.forEach((message, m) => {
          for (const { id, seed } of message)
            settle(
              [id],
              catalogId,
              upserted(`Column: s${seed}`, seed),
              acked.has(BigInt(m + 1)) ? undefined : (error ?? new ConnectError("not acknowledged")),
            );
        });
      } else if (roll < 0.7) {
        const id = pick();
        const error = await call("delete", () =>
          client.deleteEmbedding({ id, catalogId, allowMissing: true }, deadline()),
        );
        settle([id], catalogId, () => ({ deleted: true }), error);
      } else if (roll < 0.85) {
        const targets = [...new Set(Array.from({ length: 5 }, pick))];
        const status = Math.random() < 0.5 ? "rejected" : "accepted";
        const error = await call("status", () =>
          client.updateEmbeddingStatus(
            {
              ids: targets,
              catalogId,
              status: status === "rejected" ? EmbeddingStatus.REJECTED : EmbeddingStatus.ACCEPTED,
            },
            deadline(),
          ),
        );
        settle(targets, catalogId, (current) => (current.deleted ? current : { ...current, status }), error);
      } else {
        // Cross-catalog: touch another writer's anchor (created first, never deleted by its owner)
        // naming this writer's catalog. Must never succeed.
        const other = (index + 1) % WRITERS;
        const foreign = anchorsOf[other][Math.floor(Math.random() * ANCHORS)];
        {
          crossCatalogAttempts++;
          const attempt = Math.random();
          const error =
            attempt < 0.4
              ? await call("cross-catalog upsert", () =>
                  client.upsertEmbedding({
                    embedding: {
                      id: foreign,
                      catalogId,
                      kind: "column",
                      content: "Column: stolen",
                      vector: vectorOf(0),
                    },
                  }),
                )
              : attempt < 0.7
                ? await call("cross-catalog delete", () => client.deleteEmbedding({ id: foreign, catalogId }))
                : await call("cross-catalog status", () =>
                    client
                      .updateEmbeddingStatus({ ids: [foreign], catalogId, status: EmbeddingStatus.REJECTED })
                      .then((response) => {
                        if (response.updatedIds.length > 0) throw new Error("updated another catalog's embedding");
                      }),
                  );
          if (error === undefined && attempt < 0.7) crossCatalogSucceeded++;
          if (
            error !== undefined &&
            error.code !== Code.FailedPrecondition &&
            error.code !== Code.NotFound &&
            error.code !== Code.Unavailable
          )
            crossCatalogSucceeded++;
        }
      }
    }
  }

  // Chaos: Postgres backends killed, Qdrant killed -9 and restarted.
  let backendKills = 0;
  let qdrantKills = 0;
  const chaos = (async () => {
    let tick = 0;
    while (!stop) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      tick++;
      if (tick % 3 === 0) {
        const result = await killer.query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        backendKills += result.rows[0].n as number;
      }
      if (tick % 16 === 8) {
        qdrant.kill("SIGKILL");
        qdrantKills++;
        await new Promise((resolve) => qdrant.once("exit", resolve));
        await new Promise((resolve) => setTimeout(resolve, 700));
        qdrant = startQdrant(qdrantPort, dataDir);
        await waitForPort(qdrantPort);
      }
    }
  })();

  const load = Promise.all(Array.from({ length: WRITERS }, (_, index) => writer(index)));
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  stop = true;
  await Promise.all([load, chaos]);
  const loadSeconds = (Date.now() - started) / 1000;

  // Repair: wait (bounded) until every recorded intent is finished by the repairer.
  const repairStarted = Date.now();
  let pending = await running.metadata.countIntents();
  while (pending > 0 && Date.now() - repairStarted < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    pending = await running.metadata.countIntents();
  }
  const repairSeconds = (Date.now() - repairStarted) / 1000;

  // Invariants.
  let drift = 0;
  let rowsWithoutPoints = 0;
  for (const catalogId of catalogs) {
    const report = await client.reconcileEmbeddings({ catalogId });
    drift += Number(report.rowsWithoutPoints + report.pointsWithoutRows + report.mismatchedPoints);
    rowsWithoutPoints += Number(report.rowsWithoutPoints);
  }
  let ackedChecked = 0;
  let ackedLost = 0;
  let wrongCatalog = 0;
  const lostSamples: string[] = [];
  const ids = [...expected.keys()];
  for (let start = 0; start < ids.length; start += 500) {
    const page = ids.slice(start, start + 500);
    const rows = new Map((await running.metadata.getRows(page)).map((row) => [row.id, row]));
    const points = new Map((await running.vectors.get(page, { withVector: true })).map((point) => [point.id, point]));
    for (const id of page) {
      const entry = expected.get(id)!;
      const row = rows.get(id);
      const point = points.get(id);
      if (row !== undefined && row.catalogId !== entry.catalogId) wrongCatalog++;
      if (point !== undefined && point.payload.catalog_id !== entry.catalogId) wrongCatalog++;
      const matches = (state: State): boolean => {
        if (state.deleted) return row === undefined && point === undefined;
        if (row === undefined || point?.vector === undefined) return false;
        const want = vectorOf(state.seed);
        const norm = Math.hypot(...want);
        const sameVector = want.every((value, index) => Math.abs(value / norm - point.vector![index]) < 1e-5);
        return (
          row.content === state.content &&
          row.contentHash === contentHash(state.content) &&
          point.payload.content_hash === row.contentHash &&
          sameVector &&
          row.status === state.status &&
          point.payload.status === state.status
        );
      };
      ackedChecked++;
      if (!entry.possible.some(matches)) {
        ackedLost++;
        if (lostSamples.length < 5) lostSamples.push(id);
      }
    }
  }

  const result = {
    bench: "chaos",
    at: new Date().toISOString(),
    command: `npm run bench:chaos -- --seconds ${SECONDS} --writers ${WRITERS}`,
    writers: WRITERS,
    loadSeconds: Math.round(loadSeconds * 10) / 10,
    calls: Object.values(ops).reduce((sum, n) => sum + n, 0),
    ops,
    codes,
    backendKills,
    qdrantKills,
    repairSeconds: Math.round(repairSeconds * 10) / 10,
    intentsLeft: pending,
    writesFinishedByRepair: Number(
      /dq_writes_finished_by_repair_total (\d+)/.exec(await running.metrics.registry.metrics())?.[1] ?? 0,
    ),
    invariants: {
      idsChecked: ackedChecked,
      acknowledgedLostOrWrong: ackedLost,
      lostSamples,
      crossCatalogAttempts,
      crossCatalogSucceeded,
      wrongCatalog,
      drift,
      rowsWithoutPoints,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  await mkdir("bench/results", { recursive: true });
  const file = `bench/results/chaos-${result.at.replaceAll(":", "-").replace(".", "-")}.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${file}`);

  await app.stop();
  qdrant.kill("SIGKILL");
  await killer.end();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await rm(dataDir, { recursive: true, force: true });
  const ok = ackedLost === 0 && crossCatalogSucceeded === 0 && wrongCatalog === 0 && drift === 0 && pending === 0;
  console.log(ok ? "invariants hold" : "INVARIANT VIOLATED");
  process.exit(ok ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
