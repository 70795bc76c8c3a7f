import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Vector, Vectors, VectorsOutputSchema, VectorOutputSchema } from "@qdrant/js-client-grpc";
import { unimplemented, validationError } from "./errors.js";
import { sortSparse, type SparseVector } from "./sparse-storage.js";
import { denseData } from "./wire-vectors.js";

/** A vector taken from a request, before it is checked against the collection's config. */
export type InputVector = { kind: "dense"; data: Float32Array } | { kind: "sparse"; vector: SparseVector };

/** The unnamed (default) vector's name, as in Qdrant (`DEFAULT_VECTOR_NAME = ""`). */
export const DEFAULT_VECTOR = "";

/**
 * Reads a `Vector`: the `dense`/`sparse` oneof, or the deprecated flat `data` (+ `indices` for sparse)
 * the way lib/api/src/grpc/conversions.rs accepts both.
 */
export function readVector(vector: Vector, label: string): InputVector {
  const v = vector.vector;
  switch (v.case) {
    case "dense":
      return { kind: "dense", data: denseData(v.value) };
    case "sparse":
      return { kind: "sparse", vector: readSparse(v.value.indices, v.value.values, label) };
    case "multiDense":
      throw unimplemented("Multi vectors (multi_dense)");
    case "document":
    case "image":
    case "object":
      throw unimplemented("Inference (document, image and object vectors)");
    default:
      if (vector.indices !== undefined) {
        return { kind: "sparse", vector: readSparse(vector.indices.data, Array.from(denseData(vector)), label) };
      }
      if (vector.vectorsCount !== undefined && vector.vectorsCount > 1) throw unimplemented("Multi vectors");
      return { kind: "dense", data: denseData(vector) };
  }
}

export function readSparse(indices: readonly number[], values: readonly number[], label: string): SparseVector {
  const problems: string[] = [];
  if (indices.length !== values.length) problems.push(`${label}.values: must be the same length as indices`);
  if (new Set(indices).size !== indices.length) problems.push(`${label}.indices: must be unique`);
  if (problems.length > 0) throw validationError(problems.join("; "));
  return sortSparse(indices, values);
}

/** Every vector of a point, by name (`""` for the unnamed one). */
export function readVectors(vectors: Vectors | undefined, label: string): Map<string, InputVector> {
  const out = new Map<string, InputVector>();
  const v = vectors?.vectorsOptions;
  if (v === undefined || v.case === undefined) return out;
  if (v.case === "vector") {
    out.set(DEFAULT_VECTOR, readVector(v.value, `${label}.vector`));
  } else {
    for (const [name, vector] of Object.entries(v.value.vectors)) out.set(name, readVector(vector, `${label}.vectors`));
  }
  return out;
}

export type StoredVector = Float32Array | SparseVector;

type VectorOutputInit = MessageInitShape<typeof VectorOutputSchema>;

function outputOf(vector: StoredVector): VectorOutputInit {
  if (vector instanceof Float32Array) {
    // Qdrant 1.19 fills the `dense` oneof and leaves the deprecated `data` empty.
    return { vector: { case: "dense", value: { data: Array.from(vector) } } };
  }
  return {
    vector: { case: "sparse", value: { indices: Array.from(vector.indices), values: Array.from(vector.values) } },
  };
}

/**
 * A point's vectors for output, decided by the vectors this point returns (not by the collection's
 * config): exactly one vector, the unnamed dense one, comes back as the bare `vector`; anything else
 * (named vectors, a sparse one beside the dense, none at all) as the `vectors` map. That is
 * `From<NamedVectors> for VectorStructInternal` (lib/segment/src/data_types/vectors.rs) followed by
 * `From<VectorStructInternal> for grpc::VectorsOutput` (lib/api/src/conversions/vectors.rs).
 */
export function vectorsOutput(vectors: Map<string, StoredVector>): MessageInitShape<typeof VectorsOutputSchema> {
  const single = vectors.get(DEFAULT_VECTOR);
  if (vectors.size === 1 && single instanceof Float32Array)
    return { vectorsOptions: { case: "vector", value: outputOf(single) } };
  const map: { [name: string]: VectorOutputInit } = {};
  for (const [name, vector] of vectors) map[name] = outputOf(vector);
  return { vectorsOptions: { case: "vectors", value: { vectors: map } } };
}
