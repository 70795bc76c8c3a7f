import { crc32 } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CreateCollectionSchema, Distance, UpsertPointsSchema, type UpsertPoints } from "@qdrant/js-client-grpc";
import { encodeMutationParts } from "../../src/embedded/qdrant/mutation-codec.js";
import { Storage } from "../../src/embedded/qdrant/storage.js";
import { receivedUpsert } from "../../src/embedded/qdrant/upsert-request.js";
import { shadowSchemas } from "../../src/embedded/qdrant/wire-vectors.js";

/**
 * Where an upsert's time goes, per point, without the network: the client's encoding of a request
 * (number[] -> protobuf, what QdrantClient does), and on the server the decode (points kept as their
 * bytes, then decoded one by one), the apply (checks, cosine normalisation, copy into storage,
 * indexes) and the log record (the points' own bytes, crc32 included).
 * Medians of several rounds after warm-up.
 */
export interface UpsertCost {
  dims: number;
  batch: number;
  clientEncodeUsPerPoint: number;
  serverDecodeUsPerPoint: number;
  serverApplyUsPerPoint: number;
  serverLogEncodeUsPerPoint: number;
}

export function measureUpsertCost(dims: number, batch = 256, rounds = 7): UpsertCost {
  const storage = new Storage();
  storage.apply({
    kind: "createCollection",
    request: create(CreateCollectionSchema, {
      collectionName: "cost",
      vectorsConfig: { config: { case: "params", value: { size: BigInt(dims), distance: Distance.Cosine } } },
    }),
  });
  const vectors = Array.from({ length: batch }, (_, k) =>
    Array.from({ length: dims }, (_, i) => Math.sin(i * 0.01 + k)),
  );
  const samples = { client: [] as number[], decode: [] as number[], apply: [] as number[], log: [] as number[] };
  for (let round = 0; round < rounds + 2; round++) {
    let t = performance.now();
    const bytes = toBinary(
      UpsertPointsSchema,
      create(UpsertPointsSchema, {
        collectionName: "cost",
        points: vectors.map((data, k) => ({
          id: { pointIdOptions: { case: "num" as const, value: BigInt(round * batch + k) } },
          payload: { kind: { kind: { case: "stringValue" as const, value: "table" } } },
          vectors: { vectorsOptions: { case: "vector" as const, value: { data } } },
        })),
      }),
    );
    const client = performance.now() - t;
    t = performance.now();
    const received = receivedUpsert(fromBinary(shadowSchemas().upsertPointsRaw, bytes) as unknown as UpsertPoints);
    const decode = performance.now() - t;
    t = performance.now();
    storage.apply({ kind: "upsert", ...received });
    const apply = performance.now() - t;
    t = performance.now();
    let checksum = 0;
    for (const part of encodeMutationParts({ kind: "upsert", ...received })) checksum = crc32(part, checksum);
    const log = performance.now() - t;
    if (round < 2) continue; // warm-up
    samples.client.push(client);
    samples.decode.push(decode);
    samples.apply.push(apply);
    samples.log.push(log);
  }
  const perPoint = (xs: number[]) => (xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] / batch) * 1000;
  return {
    dims,
    batch,
    clientEncodeUsPerPoint: perPoint(samples.client),
    serverDecodeUsPerPoint: perPoint(samples.decode),
    serverApplyUsPerPoint: perPoint(samples.apply),
    serverLogEncodeUsPerPoint: perPoint(samples.log),
  };
}
