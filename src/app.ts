import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { createBulkDelete } from "./core/bulk-delete.js";
import { createCatalogSync } from "./core/catalog-sync.js";
import { createIngest } from "./core/ingest.js";
import { createReconcile } from "./core/reconcile.js";
import { createRepairer, type Repairer } from "./core/repairer.js";
import { createWritePath, type WriteHooks } from "./core/write-path.js";
import { createRetrieve, RETRIEVE_STEPS } from "./core/retrieve.js";
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
import { registerEmbeddingService } from "./server/embedding-service.js";
import { createErrorInterceptor } from "./server/errors.js";
import { createGrpcServer, type GrpcServer } from "./server/grpc-server.js";
import { createHealth, SERVER_HEALTH } from "./server/health.js";
import { createAdmissionInterceptor, createAuthInterceptor, createObserveInterceptor } from "./server/interceptors.js";
import { registerReflection } from "./server/reflection.js";
import { registerRetrievalService } from "./server/retrieval-service.js";
import { createValidationInterceptor } from "./server/validation/request-rules.js";
import { withWireVectors } from "./server/wire/router.js";
import {
  file_dq_embeddings_v1_embedding_service,
  EmbeddingService,
} from "../gen/dq/embeddings/v1/embedding_service_pb.js";
import {
  file_dq_embeddings_v1_retrieval_service,
  RetrievalService,
} from "../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
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

/** The composition root: every dependency is built here and passed down; nothing is global. */
export function createApp(config: Config, overrides: AppOverrides = {}): App {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const health = createHealth({ initial: { [SERVER_HEALTH]: "NOT_SERVING" } });
  const cleanups: Array<() => Promise<void>> = [];
  let server: GrpcServer | undefined;
  let readinessTimer: NodeJS.Timeout | undefined;
  let inFlightIdle: (() => Promise<void>) | undefined;
  let stopping: Promise<void> | undefined;

  async function start(): Promise<RunningApp> {
    const dataDir = await resolveDataDir();

    const postgres = await openPostgres({ config, dataDir, logger });
    cleanups.push(postgres.close);
    const metadata = instrumentStore(
      overrides.wrapMetadataStore?.(postgres.metadata) ?? postgres.metadata,
      "postgres",
      metrics,
    );

    const qdrant = await openQdrant({ config, dataDir, logger });
    cleanups.push(qdrant.close);

    const embedder = instrumentEmbedder(overrides.embedder ?? createConfiguredEmbedder(config, logger), metrics);
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

    const realVectors = createConfiguredVectorStore({ config, backend: qdrant, model: embedder.model, logger });
    const vectors = instrumentStore(overrides.wrapVectorStore?.(realVectors) ?? realVectors, "qdrant", metrics);
    await retryStartup("Qdrant", logger, () => vectors.start());

    const writePath = createWritePath({
      metadata,
      vectors,
      logger,
      hooks: overrides.writeHooks,
      onIntentsFinished: (count) => metrics.writesFinishedByRepair.inc(count),
    });
    const ingest = createIngest({ metadata, vectors, embedder, logger, writePath });
    const bulkDelete = createBulkDelete({ metadata, vectors, ingest, writePath });
    // Catalog chunking counts tokens of every description: on a worker thread, off the event loop.
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

    const observe = createObserveInterceptor(logger, metrics);
    inFlightIdle = () => observe.inFlight.idle();
    const interceptors: Interceptor[] = [observe.interceptor];
    const auth = createAuthInterceptor(config.grpc.apiKeys);
    if (auth !== undefined) {
      interceptors.push(auth);
      logger.info({ keys: config.grpc.apiKeys.length }, "callers must present a bearer API key");
    }
    // The same input rules for every RPC, before a bad request can take an admission slot.
    interceptors.push(createValidationInterceptor());
    interceptors.push(createAdmissionInterceptor(config.grpc.maxConcurrentExpensiveCalls));
    interceptors.push(createErrorInterceptor(logger));

    const routes = (router: ConnectRouter) => {
      // Through withWireVectors, request vectors are read from their wire bytes, never as number[]
      // (server/wire/; test/integration/splice.test.ts fails without it).
      registerEmbeddingService(withWireVectors(router), {
        ingest,
        bulkDelete,
        catalogSync,
        reconcile,
        dimensions: config.embedding.dimensions,
        stream: {
          maxBatchEmbeddings: config.ingest.streamBatchEmbeddings,
          maxBatchBytes: config.ingest.streamBatchBytes,
          onBatch: (embeddings, seconds) => {
            metrics.streamBatchSize.observe(embeddings);
            metrics.streamBatchSeconds.observe(seconds);
          },
        },
      });
      registerRetrievalService(withWireVectors(router), { retrieve, dimensions: config.embedding.dimensions });
      health.register(router);
      if (config.grpc.reflection) {
        registerReflection(router, [
          file_dq_embeddings_v1_embedding_service,
          file_dq_embeddings_v1_retrieval_service,
          file_grpc_health_v1_health,
          file_grpc_reflection_v1_reflection,
          file_grpc_reflection_v1alpha_reflection,
        ]);
      }
    };
    server = createGrpcServer({
      host: config.grpc.host,
      port: config.grpc.port,
      maxMessageBytes: config.grpc.maxMessageBytes,
      tls:
        config.grpc.tlsCertFile === undefined
          ? undefined
          : { certFile: config.grpc.tlsCertFile, keyFile: config.grpc.tlsKeyFile as string },
      routes,
      interceptors,
      logger,
    });
    const bound = await server.start();
    const metricsPort = await startMetricsServer();

    await checkReadiness(metadata, vectors);
    scheduleReadiness(metadata, vectors);
    logger.info(
      {
        host: bound.host,
        port: bound.port,
        metricsPort,
        tls: config.grpc.tlsCertFile !== undefined,
        reflection: config.grpc.reflection,
      },
      `gRPC server listening on ${bound.host}:${bound.port}`,
    );
    return {
      grpcPort: bound.port,
      metricsPort,
      postgresUrl: postgres.url,
      qdrant: { host: qdrant.host, port: qdrant.port, httpPort: qdrant.httpPort },
      metadata,
      vectors,
      metrics,
      repairer,
    };
  }

  async function resolveDataDir(): Promise<string> {
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

  async function startMetricsServer(): Promise<number> {
    const metricsServer = http.createServer((req, res) => {
      if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
        metrics.registry
          .metrics()
          .then((body) => {
            res.writeHead(200, { "content-type": metrics.registry.contentType });
            res.end(body);
          })
          .catch((error: unknown) => {
            logger.error({ err: error }, "metrics collection failed");
            res.writeHead(500).end();
          });
        return;
      }
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
    });
    await new Promise<void>((resolve, reject) => {
      metricsServer.once("error", reject);
      metricsServer.listen(config.metrics.port, config.metrics.host, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          metricsServer.closeAllConnections();
          metricsServer.close(() => resolve());
        }),
    );
    return (metricsServer.address() as AddressInfo).port;
  }

  /** Readiness: NOT_SERVING while Postgres or Qdrant does not answer, SERVING when both do. */
  let readiness: "SERVING" | "NOT_SERVING" | undefined;

  async function checkReadiness(metadata: MetadataStore, vectors: VectorStore): Promise<void> {
    const [postgresUp, qdrantUp] = await Promise.all([
      metadata.ping().then(
        () => true,
        () => false,
      ),
      vectors.ping().then(
        () => true,
        () => false,
      ),
    ]);
    metrics.dependencyUp.set({ dependency: "postgres" }, postgresUp ? 1 : 0);
    metrics.dependencyUp.set({ dependency: "qdrant" }, qdrantUp ? 1 : 0);
    const status = postgresUp && qdrantUp ? "SERVING" : "NOT_SERVING";
    if (status !== readiness) {
      const log = status === "SERVING" ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ postgres: postgresUp, qdrant: qdrantUp }, `readiness: ${status}`);
      readiness = status;
    }
    for (const service of [SERVER_HEALTH, EmbeddingService.typeName, RetrievalService.typeName]) {
      health.set(service, status);
    }
  }

  function scheduleReadiness(metadata: MetadataStore, vectors: VectorStore): void {
    const tick = async () => {
      await checkReadiness(metadata, vectors);
      if (stopping === undefined) {
        readinessTimer = setTimeout(() => void tick(), config.readinessIntervalMs);
      }
    };
    readinessTimer = setTimeout(() => void tick(), config.readinessIntervalMs);
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      clearTimeout(readinessTimer);
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
