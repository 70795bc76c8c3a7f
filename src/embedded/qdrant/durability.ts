import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { Engine, Journal } from "./engine.js";
import type { Mutation } from "./mutation.js";
import { decodeMutation, encodeMutation, encodeMutationParts } from "./mutation-codec.js";
import { snapshotMutations } from "./snapshot.js";
import { readRecords, RecordLog, syncDirectory, writeRecordFileAtomically } from "./wal.js";

/**
 * Compact the log into a snapshot once it grows past this, or past the last snapshot's size if that
 * is larger: rewriting the whole state only after at least as many bytes of log keeps the amortised
 * cost of compaction within one extra write of every byte.
 */
const COMPACT_AT_BYTES = 256 * 1024 * 1024;

/**
 * Durability for a data directory. Generation N is `snapshot-N.bin` (absent for N = 0) plus
 * `wal-N.log`, the updates applied after it. Start-up loads the newest snapshot, replays its log, and
 * cuts a torn tail (short record or bad checksum: a write that was never acknowledged as durable).
 * Compaction writes snapshot N+1 atomically, starts wal-(N+1) and only then deletes generation N, so a
 * crash at any point leaves one complete generation.
 */
export async function openDurability(
  engine: Engine,
  dataDir: string,
  log: Logger,
  options: { compactAtBytes?: number } = {},
): Promise<() => Promise<void>> {
  const compactAt = options.compactAtBytes ?? COMPACT_AT_BYTES;
  fs.mkdirSync(dataDir, { recursive: true });
  const unlock = lockDirectory(dataDir);
  let generation = newestGeneration(dataDir);
  const started = process.hrtime.bigint();

  const snapshotPath = snapshotFile(dataDir, generation);
  let replayed = 0;
  if (generation > 0) {
    const snap = readRecords(snapshotPath);
    if (snap.validLength !== snap.fileLength) throw new Error(`embedded Qdrant: snapshot ${snapshotPath} is corrupt`);
    for (const body of snap.records) engine.storage.apply(decodeMutation(body));
  }
  const walPath = walFile(dataDir, generation);
  const wal = readRecords(walPath);
  for (const body of wal.records) {
    try {
      engine.storage.apply(decodeMutation(body));
    } catch {
      // Recorded because it changed state before failing (e.g. an UpdateBatch); it fails the same way again.
    }
    replayed++;
  }
  if (wal.validLength < wal.fileLength) {
    log.warn(
      { file: walPath, keptBytes: wal.validLength, droppedBytes: wal.fileLength - wal.validLength },
      "embedded Qdrant: dropped a torn record at the end of the update log",
    );
    fs.truncateSync(walPath, wal.validLength);
  }
  removeOlderGenerations(dataDir, generation);
  const fresh = generation === 0 && wal.fileLength === 0;

  let current = RecordLog.openForAppend(walPath);
  syncDirectory(dataDir); // the log's directory entry must survive a power loss too
  let snapshotBytes = generation > 0 ? fs.statSync(snapshotPath).size : 0;
  log.info(
    {
      dataDir,
      collections: engine.storage.collections.size,
      replayedUpdates: replayed,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    },
    fresh ? "embedded Qdrant: new data directory" : "embedded Qdrant: recovered state from the data directory",
  );

  const retiring = new Set<Promise<void>>();
  /**
   * Synchronous from start to switch, so no update interleaves: the snapshot is exactly the applied
   * state. The old log stays open until its pending fdatasyncs finish (their waiters are covered by
   * the new snapshot too), then generation N is deleted.
   */
  const compact = (): void => {
    const next = generation + 1;
    writeRecordFileAtomically(
      snapshotFile(dataDir, next),
      mapIterable(snapshotMutations(engine.storage), encodeMutation),
    );
    snapshotBytes = fs.statSync(snapshotFile(dataDir, next)).size;
    const old = current;
    current = RecordLog.create(walFile(dataDir, next));
    syncDirectory(dataDir);
    generation = next;
    const retired: Promise<void> = old.drained().then(() => {
      old.closeSync();
      removeOlderGenerations(dataDir, generation); // the current one: compactions may have overtaken this

      retiring.delete(retired);
    });
    retiring.add(retired);
    log.info({ dataDir, generation }, "embedded Qdrant: compacted the update log into a snapshot");
  };

  const journal: Journal = {
    record(mutation: Mutation, durable: boolean) {
      // Queued now (log order = apply order), written off the event loop; fdatasync'd when durable.
      const log = current;
      const written = log.write(encodeMutationParts(mutation));
      const done = durable ? log.sync() : written;
      if (log.size > Math.max(compactAt, snapshotBytes)) compact();
      return done;
    },
  };
  engine.attach(journal);

  return async () => {
    await Promise.all(retiring);
    await current.drained();
    current.closeSync();
    unlock();
  };
}

/**
 * One server per data directory: two appending to one log would interleave records. The lock file
 * holds the owner's pid; a lock whose process is gone (kill -9) is taken over.
 */
function lockDirectory(dir: string): () => void {
  const lockPath = path.join(dir, "LOCK");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      return () => fs.rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(fs.readFileSync(lockPath, "utf8"));
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new Error(`embedded Qdrant: data directory ${dir} is in use by process ${owner}`, { cause: error });
      }
      fs.rmSync(lockPath, { force: true }); // stale: its owner is gone
    }
  }
  throw new Error(`embedded Qdrant: could not lock data directory ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function snapshotFile(dir: string, generation: number): string {
  return path.join(dir, `snapshot-${generation}.bin`);
}

function walFile(dir: string, generation: number): string {
  return path.join(dir, `wal-${generation}.log`);
}

function newestGeneration(dir: string): number {
  let newest = 0;
  for (const name of fs.readdirSync(dir)) {
    const m = /^snapshot-(\d+)\.bin$/.exec(name);
    if (m) newest = Math.max(newest, Number(m[1]));
  }
  return newest;
}

/** Deletes generations before `current` and leftover temporary files of unfinished snapshots. */
function removeOlderGenerations(dir: string, current: number): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^(?:snapshot|wal)-(\d+)\.(?:bin|log)(\.tmp)?$/.exec(name);
    // Temporary files are never in use here: a snapshot is written and renamed synchronously.
    if (m && (Number(m[1]) < current || m[2] !== undefined)) {
      fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}

function* mapIterable<A, B>(items: Iterable<A>, f: (a: A) => B): Generator<B> {
  for (const a of items) yield f(a);
}
