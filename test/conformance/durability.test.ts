// Durability of the embedded server (not a Qdrant semantic, so it never runs against a real Qdrant):
// every write acknowledged with `wait: true` survives a restart and a kill -9; a torn tail is dropped.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { Distance, QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { idOf, int, num, point, plainPayload, str } from "./proto.js";

const tmpDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "embedded-qdrant-"));
  tmpDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const logger = pino({ level: "silent" });

function clientFor(port: number): QdrantClient {
  return new QdrantClient({ url: `http://127.0.0.1:${port}`, compression: false, checkCompatibility: false });
}

async function createCollection(client: QdrantClient, name: string): Promise<void> {
  await client.api("collections").create({
    collectionName: name,
    vectorsConfig: { config: { case: "params", value: { size: 4n, distance: Distance.Cosine } } },
  });
}

describe("embedded Qdrant durability", () => {
  it("recovers collections, points, payload edits, indexes and aliases after a restart", async () => {
    const dataDir = tempDir();
    const first = createEmbeddedQdrant({ logger, dataDir });
    const { port } = await first.start();
    const client = clientFor(port);
    await createCollection(client, "docs");
    await client.api("points").upsert({
      collectionName: "docs",
      wait: true,
      points: [point(1, [1, 0, 0, 0], { kind: str("table"), big: int(9007199254740993n) }), point(2, [0, 1, 0, 0])],
    });
    await client.api("points").setPayload({
      collectionName: "docs",
      wait: true,
      payload: { kind: str("column") },
      pointsSelector: { pointsSelectorOneOf: { case: "points", value: { ids: [num(2)] } } },
    });
    await client
      .api("points")
      .createFieldIndex({ collectionName: "docs", fieldName: "kind", wait: true, fieldType: 0 });
    await client.api("collections").updateAliases({
      actions: [{ action: { case: "createAlias", value: { collectionName: "docs", aliasName: "current" } } }],
    });
    await first.stop();

    const second = createEmbeddedQdrant({ logger, dataDir });
    const again = clientFor((await second.start()).port);
    try {
      const got = await again.api("points").get({
        collectionName: "current",
        ids: [num(1), num(2)],
        withPayload: { selectorOptions: { case: "enable", value: true } },
      });
      expect(got.result.map((p) => [idOf(p), plainPayload(p.payload)])).toEqual([
        ["1", { kind: "table", big: 9007199254740993n }],
        ["2", { kind: "column" }],
      ]);
      const info = await again.api("collections").get({ collectionName: "docs" });
      expect(Object.keys(info.result?.payloadSchema ?? {})).toEqual(["kind"]);
      // Operation ids continue where they stopped.
      const next = await again
        .api("points")
        .upsert({ collectionName: "docs", wait: true, points: [point(3, [0, 0, 1, 0])] });
      expect(next.result?.operationId).toBe(3n);
    } finally {
      await second.stop();
    }
  });

  it("refuses a second server on a data directory in use, and takes over a stale lock", async () => {
    const dataDir = tempDir();
    const first = createEmbeddedQdrant({ logger, dataDir });
    await first.start();
    const second = createEmbeddedQdrant({ logger, dataDir });
    await expect(second.start()).rejects.toThrow(/in use by process/);
    await first.stop();
    // A lock left by a process that no longer exists (kill -9) does not block.
    fs.writeFileSync(path.join(dataDir, "LOCK"), "999999999");
    const third = createEmbeddedQdrant({ logger, dataDir });
    await third.start();
    await third.stop();
  });

  it("releases the data directory when start() fails, so a retry can take it", async () => {
    const dataDir = tempDir();
    const holder = createEmbeddedQdrant({ logger });
    const { port } = await holder.start();
    try {
      const clash = createEmbeddedQdrant({ logger, dataDir, port });
      await expect(clash.start()).rejects.toThrow(/EADDRINUSE/);
      const retry = createEmbeddedQdrant({ logger, dataDir });
      await retry.start();
      await retry.stop();
    } finally {
      await holder.stop();
    }
  });

  it("drops a torn record at the end of the log and keeps everything before it", async () => {
    const dataDir = tempDir();
    const first = createEmbeddedQdrant({ logger, dataDir });
    const client = clientFor((await first.start()).port);
    await createCollection(client, "docs");
    await client.api("points").upsert({ collectionName: "docs", wait: true, points: [point(1, [1, 0, 0, 0])] });
    await first.stop();
    // Simulate a crash in the middle of appending: half a record header plus garbage.
    const wal = path.join(dataDir, "wal-0.log");
    const sizeBefore = fs.statSync(wal).size;
    fs.appendFileSync(wal, Buffer.from([200, 0, 0, 0, 1, 2, 3]));

    const second = createEmbeddedQdrant({ logger, dataDir });
    const again = clientFor((await second.start()).port);
    try {
      const count = await again.api("points").count({ collectionName: "docs", exact: true });
      expect(count.result?.count).toBe(1n);
      expect(fs.statSync(wal).size).toBe(sizeBefore);
      await again.api("points").upsert({ collectionName: "docs", wait: true, points: [point(2, [0, 1, 0, 0])] });
    } finally {
      await second.stop();
    }
    const third = createEmbeddedQdrant({ logger, dataDir });
    const last = clientFor((await third.start()).port);
    try {
      const count = await last.api("points").count({ collectionName: "docs", exact: true });
      expect(count.result?.count).toBe(2n);
    } finally {
      await third.stop();
    }
  });

  it("loses no acknowledged point when the standalone server is killed with SIGKILL mid-stream", async () => {
    const dataDir = tempDir();
    const start = async (): Promise<{ child: ChildProcess; port: number }> => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "src/cli/embedded-qdrant.ts", "--port", "0", "--data-dir", dataDir, "--log-level", "info"],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const lines = readline.createInterface({ input: child.stdout });
      const port = await new Promise<number>((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
        lines.on("line", (line) => {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg?.includes("ready") && entry.port) resolve(entry.port);
        });
      });
      return { child, port };
    };

    const first = await start();
    const client = clientFor(first.port);
    await createCollection(client, "stream");
    const acknowledged: number[] = [];
    let nextId = 1;
    const writer = async (): Promise<void> => {
      for (;;) {
        const ids = [nextId++, nextId++, nextId++, nextId++];
        try {
          await client.api("points").upsert({
            collectionName: "stream",
            wait: true,
            points: ids.map((id) => point(id, [id, 1, 2, 3])),
          });
        } catch {
          return; // the server is gone
        }
        acknowledged.push(...ids);
      }
    };
    const writers = [writer(), writer(), writer()];
    while (acknowledged.length < 400) await new Promise((r) => setTimeout(r, 5));
    first.child.kill("SIGKILL");
    await Promise.all(writers);
    expect(acknowledged.length).toBeGreaterThanOrEqual(400);

    const second = await start();
    try {
      const again = clientFor(second.port);
      const found = new Set<string>();
      let offset: ReturnType<typeof num> | undefined;
      for (;;) {
        const page = await again.api("points").scroll({ collectionName: "stream", limit: 1000, offset });
        for (const p of page.result) found.add(idOf(p));
        const next = page.nextPageOffset?.pointIdOptions;
        if (next?.case !== "num") break;
        offset = num(next.value);
      }
      const lost = acknowledged.filter((id) => !found.has(String(id)));
      expect(lost).toEqual([]);
    } finally {
      second.child.kill("SIGTERM");
      await new Promise((r) => second.child.once("exit", r));
    }
  });
});

describe("compaction into snapshots", () => {
  it("rebuilds the same state from a snapshot plus the log after it", async () => {
    const { Engine } = await import("../../src/embedded/qdrant/engine.js");
    const { openDurability } = await import("../../src/embedded/qdrant/durability.js");
    const { create } = await import("@bufbuild/protobuf");
    const q = await import("@qdrant/js-client-grpc");
    const dataDir = tempDir();
    const engine = new Engine();
    const close = await openDurability(engine, dataDir, logger, { compactAtBytes: 2048 });
    await engine.execute(
      {
        kind: "createCollection",
        request: create(q.CreateCollectionSchema, {
          collectionName: "mix",
          vectorsConfig: {
            config: { case: "paramsMap", value: { map: { d: { size: 3n, distance: Distance.Euclid } } } },
          },
          sparseVectorsConfig: { map: { s: { modifier: q.Modifier.Idf } } },
        }),
      },
      true,
    );
    await engine.execute(
      {
        kind: "createFieldIndex",
        request: create(q.CreateFieldIndexCollectionSchema, { collectionName: "mix", fieldName: "k", fieldType: 0 }),
      },
      true,
    );
    for (let i = 1; i <= 60; i++) {
      await engine.execute(
        {
          kind: "upsert",
          request: create(q.UpsertPointsSchema, {
            collectionName: "mix",
            points: [
              {
                id: num(i),
                payload: { k: str(i % 2 ? "odd" : "even"), i: int(i) },
                vectors: {
                  vectorsOptions: {
                    case: "vectors",
                    value: {
                      vectors: {
                        d: { vector: { case: "dense", value: { data: [i, i + 0.5, -i] } } },
                        s: { vector: { case: "sparse", value: { indices: [i % 7, 100], values: [1, i] } } },
                      },
                    },
                  },
                },
              },
            ],
          }),
        },
        i % 10 === 0,
      );
    }
    await engine.execute(
      {
        kind: "deletePoints",
        request: create(q.DeletePointsSchema, {
          collectionName: "mix",
          points: { pointsSelectorOneOf: { case: "points", value: { ids: [num(3)] } } },
        }),
      },
      true,
    );
    await engine.execute(
      {
        kind: "updateAliases",
        request: create(q.ChangeAliasesSchema, {
          actions: [{ action: { case: "createAlias", value: { collectionName: "mix", aliasName: "m" } } }],
        }),
      },
      true,
    );
    await close();
    const files = fs.readdirSync(dataDir).sort();
    expect(files.some((f) => /^snapshot-[1-9]\d*\.bin$/.test(f))).toBe(true);
    expect(files.filter((f) => f.startsWith("snapshot-"))).toHaveLength(1);

    const restored = new Engine();
    const closeAgain = await openDurability(restored, dataDir, logger);
    try {
      const before = engine.storage.resolve("mix");
      const after = restored.storage.resolve("m");
      expect(
        before
          .offsetsInIdOrder()
          .map((o) => before.keyAt(o))
          .filter((k) => after.offsetOf(k) === undefined),
      ).toEqual([]);
      expect(after.pointsCount).toBe(59);
      expect(after.nextOperationId).toBe(before.nextOperationId);
      for (const offset of before.offsetsInIdOrder()) {
        const key = before.keyAt(offset);
        const o2 = after.offsetOf(key)!;
        expect(after.payloadAt(o2)).toEqual(before.payloadAt(offset));
        expect(after.vectorsAt(o2)).toEqual(before.vectorsAt(offset));
      }
      expect([...after.indexes.keys()]).toEqual(["k"]);
    } finally {
      await closeAgain();
    }
  });
});
