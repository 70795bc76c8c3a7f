import { fromBinary, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { PointStruct, UpsertPoints } from "@qdrant/js-client-grpc";
import { invalidArgument } from "./errors.js";
import { shadowSchemas, UPSERT_POINTS_FIELD } from "./wire-vectors.js";

/**
 * An `Upsert` request as it arrived, decoded through `upsertPointsRaw` (its points left as raw bytes):
 * the request `Storage.apply` takes, with each point decoded on its own, and the bytes the journal
 * writes for it: the request's other fields re-encoded (a few bytes) followed by the points exactly as
 * the client sent them, usually one slice of the request buffer. Re-encoding a 256-point request with
 * protobuf-es cost 16-48 us per point; this costs nothing per point. Replay decodes the record with the
 * ordinary shadow schema, as before (fields may come in another order; protobuf does not care).
 */
export interface ReceivedUpsert {
  request: UpsertPoints;
  /** The journal record's body, in parts (written with one writev). */
  wire: Uint8Array[];
}

const POINTS_TAG = Uint8Array.of((UPSERT_POINTS_FIELD << 3) | WireType.LengthDelimited);

/** Points decoded between two yields of `receivedUpsertSteps`. */
const DECODE_SLICE = 64;

export function receivedUpsert(raw: UpsertPoints): ReceivedUpsert {
  const steps = receivedUpsertSteps(raw);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** `receivedUpsert` in steps: it yields after every DECODE_SLICE points decoded (a request may hold thousands). */
export function* receivedUpsertSteps(raw: UpsertPoints): Generator<void, ReceivedUpsert> {
  const { pointStruct, upsertPointsRaw } = shadowSchemas();
  const unknown: UnknownField[] = raw.$unknown ?? [];
  const pointFields = unknown.filter((field) => field.no === UPSERT_POINTS_FIELD);
  const others = unknown.filter((field) => field.no !== UPSERT_POINTS_FIELD);
  const head = toBinary(upsertPointsRaw, { ...raw, $unknown: others });
  const points: PointStruct[] = [];
  for (const [index, field] of pointFields.entries()) {
    if (index > 0 && index % DECODE_SLICE === 0) yield;
    if (field.wireType !== WireType.LengthDelimited) {
      throw invalidArgument(`Malformed request: points[${index}] has wire type ${field.wireType}`);
    }
    try {
      const reader = new BinaryReader(field.data);
      const length = reader.uint32();
      points.push(fromBinary(pointStruct, field.data.subarray(reader.pos, reader.pos + length)) as PointStruct);
    } catch (error) {
      throw invalidArgument(`Malformed request: points[${index}]: ${(error as Error).message}`);
    }
  }
  const request = { ...raw, points, $unknown: others.length > 0 ? others : undefined } as UpsertPoints;
  return { request, wire: [head, ...pointParts(pointFields)] };
}

/**
 * The points' fields as they sit in the request: a field's tag is the byte before its `data` (field 3,
 * length-delimited: one byte). Consecutive points are one slice; anything else gets its tag written.
 */
function pointParts(fields: readonly UnknownField[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let run: { buffer: ArrayBufferLike; start: number; end: number } | undefined;
  const flush = () => {
    if (run !== undefined) parts.push(new Uint8Array(run.buffer, run.start, run.end - run.start));
    run = undefined;
  };
  for (const { data } of fields) {
    const tagAt = data.byteOffset - 1;
    const tagged = tagAt >= 0 && new Uint8Array(data.buffer, tagAt, 1)[0] === POINTS_TAG[0];
    if (!tagged) {
      flush();
      parts.push(POINTS_TAG, data);
      continue;
    }
    if (run !== undefined && run.buffer === data.buffer && run.end === tagAt) {
      run.end = data.byteOffset + data.length;
    } else {
      flush();
      run = { buffer: data.buffer, start: tagAt, end: data.byteOffset + data.length };
    }
  }
  flush();
  return parts;
}
