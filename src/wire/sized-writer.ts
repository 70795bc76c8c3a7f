import { WireType } from "@bufbuild/protobuf/wire";

/**
 * Protobuf bytes written into one buffer of the exact final size, for messages that carry vectors
 * (hundreds of 12 KiB chunks) and are written on every ingest batch. The caller computes every length
 * first (`lengthDelimitedSize`, `stringSize`, ...), then writes tags, lengths and values once, in order;
 * `finish` checks that the plan and the writing agree.
 *
 * protobuf-es's `BinaryWriter` is the general tool and what tests compare against; it is not used
 * here because it grows its buffer by doubling, copies the result again in `finish()` and moves a
 * nested message whenever its length prefix outgrows one byte. Measured on these machines for an
 * UpsertPoints of 512 3072-d points: 13-17 us per vector through BinaryWriter against 2-4 us into an
 * exact buffer, and the points' ids and payloads alone 3.1 us per point through a BinaryWriter each
 * against well under 1 us written in place.
 */
export class SizedWriter {
  readonly bytes: Uint8Array;
  private pos: number;

  /**
   * A writer of `size` bytes; `offset` leaves room for a prefix the caller writes (an envelope header).
   * With `reuse` at least `offset + size` bytes long, the bytes are written into its start instead of
   * a new buffer: a fresh multi-MiB buffer costs more than the copy into it (zero-filled pages faulted
   * in one by one, and external memory that makes V8 collect sooner). Every byte from `offset` on is
   * written; the prefix is the caller's to fill.
   */
  constructor(size: number, offset = 0, reuse?: Uint8Array) {
    const length = offset + size;
    this.bytes = reuse !== undefined && reuse.length >= length ? reuse.subarray(0, length) : new Uint8Array(length);
    this.pos = offset;
  }

  get position(): number {
    return this.pos;
  }

  /** A tag: field number and wire type. */
  tag(no: number, wireType: WireType): this {
    return this.varint(((no << 3) | wireType) >>> 0);
  }

  /** The tag and length prefix of length-delimited field `no`; its `length` bytes follow. */
  lengthDelimited(no: number, length: number): this {
    return this.varint(((no << 3) | WireType.LengthDelimited) >>> 0).varint(length);
  }

  /** An unsigned varint below 2^32 (lengths, tags, uint32, enums >= 0, bools). */
  varint(value: number): this {
    const bytes = this.bytes;
    let pos = this.pos;
    while (value > 0x7f) {
      bytes[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    bytes[pos++] = value;
    this.pos = pos;
    return this;
  }

  /** A string field's UTF-8 bytes (no prefix); `byteLength` is its `stringSize`. */
  string(value: string, byteLength: number): this {
    if (byteLength === value.length) {
      // ASCII: one byte per code unit.
      const bytes = this.bytes;
      const pos = this.pos;
      for (let i = 0; i < byteLength; i++) {
        bytes[pos + i] = value.charCodeAt(i);
      }
    } else {
      utf8.encodeInto(value, this.bytes.subarray(this.pos, this.pos + byteLength));
    }
    this.pos += byteLength;
    return this;
  }

  raw(chunk: Uint8Array): this {
    this.bytes.set(chunk, this.pos);
    this.pos += chunk.length;
    return this;
  }

  /** The whole buffer; throws when what was written differs from the size computed beforehand. */
  finish(): Uint8Array {
    if (this.pos !== this.bytes.length) {
      throw new Error(`SizedWriter: wrote ${this.pos} bytes into a buffer of ${this.bytes.length}`);
    }
    return this.bytes;
  }
}

const utf8 = new TextEncoder();

/** Bytes of `value` (below 2^32) as a varint. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Bytes of a tag. */
export function tagSize(no: number, wireType: WireType): number {
  return varintSize(((no << 3) | wireType) >>> 0);
}

/** Bytes of length-delimited field `no` with a `length`-byte body: tag, length prefix and body. */
export function lengthDelimitedSize(no: number, length: number): number {
  return tagSize(no, WireType.LengthDelimited) + varintSize(length) + length;
}

/** UTF-8 bytes of `value` (what `SizedWriter.string` writes). */
export function stringSize(value: string): number {
  // Most strings here are short ASCII (ids, hashes, names): counted without leaving JS.
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) {
      return Buffer.byteLength(value, "utf8");
    }
  }
  return value.length;
}
