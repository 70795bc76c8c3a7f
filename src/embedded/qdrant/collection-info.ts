import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CollectionInfoSchema } from "@qdrant/js-client-grpc";
import { CollectionStatus } from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";

/**
 * `CollectionInfo` for Collections.Get: the config echoes what was created, merged over the defaults
 * of Qdrant's config/config.yaml (hnsw m 16, ef_construct 100, full_scan_threshold 10000; optimizers
 * deleted_threshold 0.2, vacuum_min_vector_number 1000, flush_interval_sec 5; wal 32 MB, 0 ahead).
 * Everything is one exact "segment", always Green.
 */
export function collectionInfo(c: Collection): MessageInitShape<typeof CollectionInfoSchema> {
  const r = c.config;
  const payloadSchema: NonNullable<MessageInitShape<typeof CollectionInfoSchema>["payloadSchema"]> = {};
  for (const [field, index] of c.indexes) {
    payloadSchema[field] = {
      dataType: index.type,
      params: index.params as never,
      points: BigInt(index.pointsCount),
    };
  }
  return {
    status: CollectionStatus.Green,
    optimizerStatus: { ok: true, error: "" },
    segmentsCount: 1n,
    pointsCount: BigInt(c.pointsCount),
    indexedVectorsCount: 0n,
    payloadSchema,
    updateQueue: { length: 0n },
    config: {
      params: {
        shardNumber: r.shardNumber ?? 1,
        onDiskPayload: r.onDiskPayload ?? true,
        vectorsConfig: r.vectorsConfig,
        replicationFactor: r.replicationFactor ?? 1,
        writeConsistencyFactor: r.writeConsistencyFactor ?? 1,
        shardingMethod: r.shardingMethod,
        sparseVectorsConfig: r.sparseVectorsConfig,
        payload: r.payload,
      },
      hnswConfig: {
        m: 16n,
        efConstruct: 100n,
        fullScanThreshold: 10000n,
        maxIndexingThreads: 0n,
        onDisk: false,
        ...defined(r.hnswConfig),
      },
      optimizerConfig: {
        deletedThreshold: 0.2,
        vacuumMinVectorNumber: 1000n,
        defaultSegmentNumber: 0n,
        indexingThreshold: 10000n,
        flushIntervalSec: 5n,
        ...defined(r.optimizersConfig),
      },
      walConfig: { walCapacityMb: 32n, walSegmentsAhead: 0n, ...defined(r.walConfig) },
      quantizationConfig: r.quantizationConfig,
      strictModeConfig: r.strictModeConfig ?? { enabled: false },
      metadata: r.metadata,
    },
  };
}

/** The fields of a protobuf-es message that were set (drops `$typeName` and undefined optionals). */
function defined<T extends object>(message: T | undefined): Partial<T> {
  if (message === undefined) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) if (k !== "$typeName" && v !== undefined) out[k] = v;
  return out as Partial<T>;
}
