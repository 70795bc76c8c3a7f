import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { createBulkDelete, type BulkDelete } from "./core/bulk-delete.js";
import { createCatalogSync, type CatalogSync } from "./core/catalog/sync.js";
import { createIngest, type Ingest } from "./core/ingest.js";
import { createReconcile, type Reconcile } from "./core/reconcile.js";
import { createRepairer, type Repairer } from "./core/repairer.js";
import { createWritePath, type WriteHooks } from "./core/write-path.js";
import { createRetrieve, RETRIEVE_STEPS, type Retrieve } from "./core/retrieve.js";
import { createConfiguredEmbedder } from "./backends/embedder.js";
import { createCpuPool } from "./embedders/cpu-pool.js";
import { makePrivateDir } from "./embedded/private-dir.js";
import { openPostgres } from "./backends/postgres.js";
import { createConfiguredVectorStore, openQdrant } from "./backends/qdrant.js";
import { retryStartup } from "./backends/retry-startup.js";
import type { Embedder } from "./embedders/embedder.js";
import { instrumentEmbedder, instrumentStore } from "./instrument.js";
import { createLogger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { createGrpcServer, type GrpcServer } from "./server/grpc-server.js";
import { createHealth, SERVER_HEALTH } from "./grpc/health.js";
import { startMetricsServer } from "./server/metrics-server.js";
import { createReadiness, type Readiness } from "./server/readiness.js";
import { createInterceptors, createRoutes } from "./server/routes.js";
import { EmbeddingService } from "../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../gen/dq/embeddings/v1/retrieval_service_pb.js";
import type { MetadataStore } from "./stores/metadata-store.js";
import type { VectorStore } from "./stores/vector-store.js";

/** Seams for tests: replace or wrap parts while keeping everything else real. */
export interface AppOverrides {
  logger?: Logger;
  embedder?: Embedder;
  /** Wraps the real vector store (e.g. to stop Qdrant between the two writes of an upsert). */
  wrapVectorStore?: (store: VectorStore) => VectorStore;
  /** Wraps the real metadata store (e.g. to fail or block a transaction at COMMIT). */
  wrapMetadataStore?: (store: MetadataStore) => MetadataStore;
  /** Observes, fails or stops every write at each step (core/write-path.ts). */
  writeHooks?: WriteHooks;
}

export interface RunningApp {
  grpcPort: number;
  metricsPort: number;
  /** What the app is talking to, for logs and tests. */
  postgresUrl: string;
  qdrant: { host: string; port: number; httpPort?: number };
  metadata: MetadataStore;
  vectors: VectorStore;
  metrics: Metrics;
  /** The background repairer of half-done writes (tests run passes by hand). */
  repairer: Repairer;
}

export interface App {
  start(): Promise<RunningApp>;
  /** Health NOT_SERVING, stop accepting, drain in-flight calls up to the grace period, close everything. */
  stop(): Promise<void>;
}

/** The core's services, built on the two stores and the embedder (core/: no gRPC in them). */
interface Core {
  ingest: Ingest;
  bulkDelete: BulkDelete;
  catalogSync: CatalogSync;
  reconcile: Reconcile;
  retrieve: Retrieve;
  repairer: Repairer;
}

/** The composition root: every dependency is built here and passed down; nothing is global. */
export function createApp(config: Config, overrides: AppOverrides = {}): App {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const health = createHealth({ initial: { [SERVER_HEALTH]: "NOT_SERVING" } });
  const cleanups: Array<() => Promise<void>> = [];
  let server: GrpcServer | undefined;
  let readiness: Readiness | undefined;
  let inFlightIdle: (() => Promise<void>) | undefined;
  let stopping: Promise<void> | undefined;

  async function start(): Promise<RunningApp> {
    const dataDir = await resolveDataDir(config, logger, cleanups);

    // Postgres and Qdrant do not depend on each other, so they come up at once: the embedded PGlite
    // spends its start copying a cluster and booting WebAssembly, the vector store creating or loading
    // its collection. Each registers its cleanup as soon as it holds something to close.
    const [postgres, { qdrant, embedder, vectors }] = await both(
      openPostgres({ config, dataDir, logger }).then((opened) => {
        cleanups.push(opened.close);
        return opened;
      }),
      openVectors(dataDir),
    );
    const metadata = instrumentStore(
      overrides.wrapMetadataStore?.(postgres.metadata) ?? postgres.metadata,
      "postgres",
      metrics,
    );

    const core = createCore({ config, metadata, vectors, embedder, logger, metrics, overrides, cleanups });
    const chain = createInterceptors(config.grpc, logger, metrics);
    inFlightIdle = chain.idle;
    server = createGrpcServer({
      host: config.grpc.host,
      port: config.grpc.port,
      maxMessageBytes: config.grpc.maxMessageBytes,
      tls:
        config.grpc.tlsCertFile === undefined
          ? undefined
          : { certFile: config.grpc.tlsCertFile, keyFile: config.grpc.tlsKeyFile as string },
      routes: createRoutes({
        embedding: {
          ...core,
          dimensions: config.embedding.dimensions,
          stream: {
            maxBatchEmbeddings: config.ingest.streamBatchEmbeddings,
            maxBatchBytes: config.ingest.streamBatchBytes,
            onBatch: (embeddings, seconds) => {
              metrics.streamBatchSize.observe(embeddings);
              metrics.streamBatchSeconds.observe(seconds);
            },
          },
        },
        retrieval: { retrieve: core.retrieve, dimensions: config.embedding.dimensions },
        health,
        reflection: config.grpc.reflection,
      }),
      interceptors: chain.interceptors,
      logger,
    });
    const bound = await server.start();
    const metricsServer = await startMetricsServer({
      registry: metrics.registry,
      host: config.metrics.host,
      port: config.metrics.port,
      logger,
    });
    cleanups.push(metricsServer.close);

    readiness = createReadiness({
      health,
      services: [SERVER_HEALTH, EmbeddingService.typeName, RetrievalService.typeName],
      dependencies: { postgres: () => metadata.ping(), qdrant: () => vectors.ping() },
      metrics,
      logger,
      intervalMs: config.readinessIntervalMs,
    });
    await readiness.check();
    readiness.start();
    logger.info(
      {
        host: bound.host,
        port: bound.port,
        metricsPort: metricsServer.port,
        tls: config.grpc.tlsCertFile !== undefined,
        reflection: config.grpc.reflection,
      },
      `gRPC server listening on ${bound.host}:${bound.port}`,
    );
    return {
      grpcPort: bound.port,
      metricsPort: metricsServer.port,
      postgresUrl: postgres.url,
      qdrant: { host: qdrant.host, port: qdrant.port, httpPort: qdrant.httpPort },
      metadata,
      vectors,
      metrics,
      repairer: core.repairer,
    };
  }

  /** The vector store (Qdrant, embedded unless configured), checked against the embedder and started. */
  async function openVectors(dataDir: string) {
    const qdrant = await openQdrant({ config, dataDir, logger });
    cleanups.push(qdrant.close);
    const embedder = instrumentEmbedder(await openEmbedder(config, logger, overrides.embedder), metrics);
    const realVectors = createConfiguredVectorStore({ config, backend: qdrant, model: embedder.model, logger });
    const vectors = instrumentStore(overrides.wrapVectorStore?.(realVectors) ?? realVectors, "qdrant", metrics);
    await retryStartup("Qdrant", logger, () => vectors.start());
    return { qdrant, embedder, vectors };
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      readiness?.stop();
      health.shutdown();
      if (server !== undefined) {
        server.stopAccepting();
        const grace = new Promise<void>((resolve) => setTimeout(resolve, config.grpc.shutdownGraceMs).unref());
        await Promise.race([inFlightIdle?.() ?? Promise.resolve(), grace]);
        await server.close();
      }
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          logger.warn({ err: error }, "cleanup step failed during shutdown");
        }
      }
      logger.info("stopped");
    })();
    return stopping;
  }

  return { start, stop };
}

/**
 * Both results, once both have settled: unlike Promise.all, a failure of one does not return while the
 * other is still opening something that stop() would then not know to close.
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === "rejected") throw first.reason;
  if (second.status === "rejected") throw second.reason;
  return [first.value, second.value];
}

/** DATA_DIR (made private), or a temporary directory deleted on stop. */
async function resolveDataDir(config: Config, logger: Logger, cleanups: Array<() => Promise<void>>): Promise<string> {
  if (config.dataDir !== undefined) {
    await makePrivateDir(config.dataDir);
    return config.dataDir;
  }
  const dir = await mkdtemp(join(tmpdir(), "dq-embeddings-"));
  await makePrivateDir(dir);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  if (config.postgres.url === undefined || config.qdrant.host === undefined) {
    logger.warn(
      { dataDir: dir },
      "DATA_DIR is unset: embedded stores keep their files in a temporary directory that is deleted on exit",
    );
  }
  return dir;
}

/** The configured embedder (or the test's), checked against EMBEDDING_DIMENSIONS. */
async function openEmbedder(config: Config, logger: Logger, override: Embedder | undefined): Promise<Embedder> {
  const embedder = override ?? (await createConfiguredEmbedder(config, logger));
  logger.info(
    { embedder: embedder.name, model: embedder.model, dimensions: embedder.dimensions },
    embedder.name === "local"
      ? "embedder: local deterministic embedder (set OPENAI_API_KEY for OpenAI)"
      : "embedder: OpenAI",
  );
  if (embedder.dimensions !== config.embedding.dimensions) {
    throw new Error(
      `embedder produces ${embedder.dimensions}-dimensional vectors but EMBEDDING_DIMENSIONS is ${config.embedding.dimensions}`,
    );
  }
  return embedder;
}

/** The core's services over the stores, with the repairer started and the CPU pool registered for cleanup. */
function createCore(deps: {
  config: Config;
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
  metrics: Metrics;
  overrides: AppOverrides;
  cleanups: Array<() => Promise<void>>;
}): Core {
  const { config, metadata, vectors, embedder, logger, metrics, cleanups } = deps;
  const writePath = createWritePath({
    metadata,
    vectors,
    logger,
    hooks: deps.overrides.writeHooks,
    onIntentsFinished: (count) => metrics.writesFinishedByRepair.inc(count),
  });
  const ingest = createIngest({ metadata, vectors, embedder, logger, writePath });
  const bulkDelete = createBulkDelete({ metadata, vectors, ingest, writePath });
  // Catalog chunking and context assembly count tokens of every description: on a worker thread.
  const cpu = createCpuPool();
  cleanups.push(() => cpu.close());
  const catalogSync = createCatalogSync({
    metadata,
    embedder,
    ingest,
    chunkCatalog: (catalogId, catalog) => cpu.chunkCatalog(catalogId, catalog),
  });
  const repairer = createRepairer({
    metadata,
    writePath,
    logger,
    intervalMs: config.repair.intervalMs,
    batch: config.repair.batch,
    onPending: (count) => metrics.writesPending.set(count),
  });
  repairer.start();
  cleanups.push(() => repairer.stop());
  const reconcile = createReconcile({
    metadata,
    vectors,
    embedder,
    logger,
    writePath,
    onDrift: (catalogId, drift) =>
      metrics.reconcileDrift.set({ catalog_id: catalogId === "" ? "all" : catalogId }, drift),
  });
  const retrieve = createRetrieve({
    metadata,
    vectors,
    embedder,
    logger,
    onDroppedHits: (count) => metrics.searchDroppedHits.inc(count),
    assembleContext: (input) => cpu.assembleContext(input),
    onStepTimings: (timings) => {
      for (const step of RETRIEVE_STEPS) metrics.retrieveStepSeconds.observe({ step }, timings[step]);
    },
  });
  return { ingest, bulkDelete, catalogSync, reconcile, retrieve, repairer };
}
