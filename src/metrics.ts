import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The service's metrics on its own Registry (never the global one: tests start several apps in one
 * process). gRPC metric names follow go-grpc-prometheus so existing dashboards work.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const grpcLabels = ["grpc_type", "grpc_service", "grpc_method"] as const;
  return {
    registry,
    grpcStarted: new Counter({
      name: "grpc_server_started_total",
      help: "Total number of RPCs started on the server.",
      labelNames: grpcLabels,
      registers: [registry],
    }),
    grpcHandled: new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...grpcLabels, "grpc_code"],
      registers: [registry],
    }),
    grpcHandlingSeconds: new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames: grpcLabels,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    grpcInFlight: new Gauge({
      name: "grpc_server_in_flight",
      help: "RPCs being handled right now.",
      registers: [registry],
    }),
    searchDroppedHits: new Counter({
      name: "dq_search_dropped_hits_total",
      help: "Qdrant hits dropped because their Postgres row was gone (drift; reconcile repairs it).",
      registers: [registry],
    }),
    streamBatchSize: new Histogram({
      name: "dq_stream_batch_embeddings",
      help: "Embeddings per store batch written by StreamUpsertEmbeddings.",
      buckets: [1, 8, 32, 64, 128, 256, 512, 1000],
      registers: [registry],
    }),
    streamBatchSeconds: new Histogram({
      name: "dq_stream_batch_seconds",
      help: "Time to make one stream batch durable in both stores (the acknowledgement lag of its messages).",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconcileDrift: new Gauge({
      name: "dq_reconcile_drift",
      help: 'Drift (rows without points + points without rows + mismatched payloads) found by the last reconcile of a catalog ("all" = every catalog).',
      labelNames: ["catalog_id"],
      registers: [registry],
    }),
    writesFinishedByRepair: new Counter({
      name: "dq_writes_finished_by_repair_total",
      help: "Embedding writes that stopped half-way and were finished from their intent record (by the request's own retry, the repairer or reconcile).",
      registers: [registry],
    }),
    writesPending: new Gauge({
      name: "dq_writes_pending",
      help: "Write intents still recorded after the repairer's last pass (in progress, or waiting for a store to come back).",
      registers: [registry],
    }),
    embeddingCalls: new Counter({
      name: "dq_embedding_calls_total",
      help: "Calls to the embedder (each may be several API requests), by outcome (ok or the error kind).",
      labelNames: ["embedder", "outcome"],
      registers: [registry],
    }),
    embeddingInputs: new Counter({
      name: "dq_embedding_inputs_total",
      help: "Texts embedded.",
      labelNames: ["embedder"],
      registers: [registry],
    }),
    embeddingTokens: new Counter({
      name: "dq_embedding_tokens_total",
      help: "Tokens embedded, counted with the model's tokenizer.",
      labelNames: ["embedder"],
      registers: [registry],
    }),
    embeddingSeconds: new Histogram({
      name: "dq_embedding_seconds",
      help: "Time of one embedder call, retries included.",
      labelNames: ["embedder"],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    storeSeconds: new Histogram({
      name: "dq_store_operation_seconds",
      help: "Duration of one store operation.",
      labelNames: ["store", "operation"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    storeBatchSize: new Histogram({
      name: "dq_store_batch_size",
      help: "Items (rows, points or ids) per store operation.",
      labelNames: ["store", "operation"],
      buckets: [1, 8, 32, 64, 128, 256, 512, 1000, 5000],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: "dq_store_errors_total",
      help: "Failed store operations, by error kind (unavailable, failed_precondition, ...).",
      labelNames: ["store", "operation", "kind"],
      registers: [registry],
    }),
    retrieveStepSeconds: new Histogram({
      name: "dq_retrieve_step_seconds",
      help: "Time of each step of one RetrieveContext call: embed, qdrant, rank, postgres, assemble.",
      labelNames: ["step"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: "dq_dependency_up",
      help: "1 when the dependency answered its last readiness check, 0 otherwise.",
      labelNames: ["dependency"],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
