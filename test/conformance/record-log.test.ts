// The embedded server's record log on real files (I/O, so not a unit test): torn tails and checksums.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readRecords, RecordLog, writeRecordFileAtomically } from "../../src/embedded/qdrant/wal.js";

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "wal-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("record log", () => {
  it("reads back every appended record after sync", async () => {
    const file = path.join(tmp(), "wal.log");
    const log = RecordLog.openForAppend(file);
    log.append(Buffer.from("one"));
    log.append(Buffer.from("two"));
    await Promise.all([log.sync(), log.sync()]);
    log.closeSync();
    const read = readRecords(file);
    expect(read.records.map((r) => Buffer.from(r).toString())).toEqual(["one", "two"]);
    expect(read.validLength).toBe(read.fileLength);
  });

  it("stops at a short tail and at a record whose checksum does not match", () => {
    const file = path.join(tmp(), "wal.log");
    const log = RecordLog.openForAppend(file);
    log.append(Buffer.from("kept"));
    log.closeSync();
    const good = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.from([10, 0, 0, 0, 1, 2])); // header cut short
    expect(readRecords(file).validLength).toBe(good);

    fs.truncateSync(file, good);
    const again = RecordLog.openForAppend(file);
    again.append(Buffer.from("flipped"));
    again.closeSync();
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff; // corrupt the body: the checksum no longer matches
    fs.writeFileSync(file, bytes);
    const read = readRecords(file);
    expect(read.records.map((r) => Buffer.from(r).toString())).toEqual(["kept"]);
    expect(read.validLength).toBe(good);
  });

  it("writes queued records off the loop in call order, a large one included", async () => {
    const file = path.join(tmp(), "wal.log");
    const log = RecordLog.openForAppend(file);
    const big = Buffer.alloc(8 << 20, 7);
    const writes = [
      log.write(Buffer.from("first")),
      log.write([Buffer.from("in "), Buffer.from("parts")]),
      log.write(big),
      log.write(Buffer.from("last")),
    ];
    await log.sync();
    await Promise.all(writes);
    log.closeSync();
    const read = readRecords(file);
    expect(read.records.map((r) => (r.length > 100 ? `${r.length} bytes` : Buffer.from(r).toString()))).toEqual([
      "first",
      "in parts",
      `${big.length} bytes`,
      "last",
    ]);
    expect(read.validLength).toBe(read.fileLength);
  });

  // /dev/full answers every write with ENOSPC (Linux).
  it.runIf(fs.existsSync("/dev/full"))(
    "fails every record queued after a failed write, and the sync after them",
    async () => {
      const log = RecordLog.openForAppend("/dev/full");
      const failed = log.write(Buffer.from("lost"));
      const after = log.write(Buffer.from("never"));
      await expect(failed).rejects.toThrow(/ENOSPC/);
      await expect(after).rejects.toThrow(/ENOSPC/);
      await expect(log.sync()).rejects.toThrow(/ENOSPC/);
      // Left open: closeSync would fdatasync /dev/full, which refuses (EINVAL).
    },
  );

  it("writes whole files atomically through a temporary name", () => {
    const dir = tmp();
    const file = path.join(dir, "snapshot-1.bin");
    writeRecordFileAtomically(file, [Buffer.from("a"), Buffer.from("b")]);
    expect(fs.readdirSync(dir)).toEqual(["snapshot-1.bin"]);
    expect(readRecords(file).records).toHaveLength(2);
  });
});
