import fs from "node:fs";
import { crc32 } from "node:zlib";

/**
 * An append-only record file. Each record is `u32 length | u32 crc32(body) | body` (little endian).
 * `append` writes synchronously (snapshots, tests); `write` queues the record and writes it off the
 * event loop (libuv's thread pool), records strictly in call order, so the file order is the apply
 * order: a 12 MiB upsert no longer holds the loop while it is copied to the page cache. After a failed
 * write every later one fails too (nothing is written past a torn record, which recovery would cut).
 * `sync()` resolves once every record queued before it is written and an fdatasync that started after
 * that has finished; concurrent callers share one fdatasync (group commit).
 */
export class RecordLog {
  readonly path: string;
  private fd: number;
  private bytes: number;
  private syncing = false;
  private waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private idle: (() => void)[] = [];
  /** The last queued write (settled either way): the next one starts after it. */
  private writes: Promise<void> = Promise.resolve();
  private writeFailure: Error | undefined;

  private constructor(path: string, fd: number, bytes: number) {
    this.path = path;
    this.fd = fd;
    this.bytes = bytes;
  }

  static openForAppend(path: string): RecordLog {
    const fd = fs.openSync(path, "a");
    return new RecordLog(path, fd, fs.fstatSync(fd).size);
  }

  static create(path: string): RecordLog {
    return new RecordLog(path, fs.openSync(path, "w"), 0);
  }

  get size(): number {
    return this.bytes;
  }

  /** Appends one record whose body is `body`, or the concatenation of its parts, synchronously. */
  append(body: Uint8Array | readonly Uint8Array[]): void {
    writeAllv(this.fd, this.frame(body));
  }

  /**
   * Queues one record (body or parts; they must not change until it is written) and resolves once it
   * is written to the file, not yet synced. Call order is file order.
   */
  write(body: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const parts = this.frame(body);
    const written = this.writes.then(() => {
      if (this.writeFailure !== undefined) throw this.writeFailure;
      return writeAllvAsync(this.fd, parts).catch((error: unknown) => {
        this.writeFailure ??= error as Error;
        throw error;
      });
    });
    this.writes = written.catch(() => undefined);
    return written;
  }

  sync(): Promise<void> {
    const written = this.writes;
    return written.then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (this.writeFailure !== undefined) return reject(this.writeFailure);
          this.waiting.push({ resolve, reject });
          this.kick();
        }),
    );
  }

  /** Resolves when every queued record is written and no fdatasync is running or waiting. */
  async drained(): Promise<void> {
    await this.writes;
    if (!this.syncing && this.waiting.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** The record's bytes: header (length, crc32 of the body), then the body's parts. */
  private frame(body: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    const parts = body instanceof Uint8Array ? [body] : body;
    let length = 0;
    let checksum = 0;
    for (const part of parts) {
      length += part.length;
      checksum = crc32(part, checksum);
    }
    const header = Buffer.alloc(8);
    header.writeUInt32LE(length, 0);
    header.writeUInt32LE(checksum, 4);
    this.bytes += 8 + length;
    return [header, ...parts];
  }

  closeSync(): void {
    fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
  }

  private kick(): void {
    if (this.syncing) return;
    if (this.waiting.length === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const f of idle) f();
      return;
    }
    const batch = this.waiting;
    this.waiting = [];
    this.syncing = true;
    fs.fdatasync(this.fd, (error) => {
      this.syncing = false;
      for (const w of batch) {
        if (error) w.reject(error);
        else w.resolve();
      }
      this.kick();
    });
  }
}

/** `writeAllv` on the thread pool: `fs.writev` until every byte is out. */
async function writeAllvAsync(fd: number, parts: Uint8Array[]): Promise<void> {
  let pending = parts.filter((part) => part.length > 0);
  while (pending.length > 0) {
    let written = await new Promise<number>((resolve, reject) =>
      fs.writev(fd, pending, (error, bytes) => (error ? reject(error) : resolve(bytes))),
    );
    while (pending.length > 0 && written >= pending[0].length) {
      written -= pending[0].length;
      pending = pending.slice(1);
    }
    if (written > 0) pending[0] = pending[0].subarray(written);
  }
}

function writeAllv(fd: number, parts: Uint8Array[]): void {
  let pending = parts.filter((part) => part.length > 0);
  while (pending.length > 0) {
    let written = fs.writevSync(fd, pending);
    // A short write: drop what went out, continue with the rest.
    while (pending.length > 0 && written >= pending[0].length) {
      written -= pending[0].length;
      pending = pending.slice(1);
    }
    if (written > 0) pending[0] = pending[0].subarray(written);
  }
}

export interface ReadResult {
  records: Uint8Array[];
  /** Bytes of whole, checksum-valid records from the start; anything after is a torn tail. */
  validLength: number;
  fileLength: number;
}

/** Reads records until the end or the first short or checksum-failing record. */
export function readRecords(path: string): ReadResult {
  if (!fs.existsSync(path)) return { records: [], validLength: 0, fileLength: 0 };
  const data = fs.readFileSync(path);
  const records: Uint8Array[] = [];
  let at = 0;
  while (at + 8 <= data.length) {
    const length = data.readUInt32LE(at);
    const checksum = data.readUInt32LE(at + 4);
    if (at + 8 + length > data.length) break;
    const body = data.subarray(at + 8, at + 8 + length);
    if (crc32(body) !== checksum) break;
    records.push(body);
    at += 8 + length;
  }
  return { records, validLength: at, fileLength: data.length };
}

/** Writes a whole record file durably: temp file, fsync, rename, fsync of the directory. */
export function writeRecordFileAtomically(path: string, bodies: Iterable<Uint8Array>): void {
  const tmp = `${path}.tmp`;
  const log = RecordLog.create(tmp);
  for (const body of bodies) log.append(body);
  log.closeSync();
  fs.renameSync(tmp, path);
  syncDirectory(path.slice(0, path.lastIndexOf("/")) || ".");
}

export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
