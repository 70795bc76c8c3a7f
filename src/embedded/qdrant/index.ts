import type { Logger } from "pino";
import { Engine } from "./engine.js";
import { startRestApi, type RestApi } from "../qdrant-rest/start-rest-api.js";
import { createGrpcServer, QDRANT_TITLE, QDRANT_VERSION, type GrpcServer } from "./server.js";

export interface EmbeddedQdrantOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Where updates are logged and snapshotted; undefined = memory only (said in the log). */
  dataDir?: string;
  /**
   * Compact the log into a snapshot once it passes this many bytes (default 256 MiB, or the last
   * snapshot's size if larger). Compaction writes the whole state at once, on the event loop.
   */
  compactAtBytes?: number;
  /** When set, every call but HealthCheck needs it in `api-key` (or `authorization: Bearer`). */
  apiKey?: string;
  /** Also serve Qdrant's read-only REST API (qdrant-rest/) on this port; 0 = any free port. */
  httpPort?: number;
  /** A taken httpPort is a warning, not a start-up failure (the service's embedded default). */
  httpPortOptional?: boolean;
  logger: Logger;
}

export interface EmbeddedQdrant {
  start(): Promise<{ host: string; port: number }>;
  /** Closes every HTTP/2 session itself: the qdrant client has no close(). */
  stop(): Promise<void>;
  readonly port: number;
  /** The REST port, when one is bound. */
  readonly httpPort: number | undefined;
}

/**
 * An in-process server on Qdrant's gRPC API (the client package's own descriptors, a real socket),
 * persistent when given a data directory. The constructor does no I/O; `start()` recovers state and
 * listens.
 */
export function createEmbeddedQdrant(options: EmbeddedQdrantOptions): EmbeddedQdrant {
  const host = options.host ?? "127.0.0.1";
  const log = options.logger;
  let port = 0;
  let engine: Engine | undefined;
  let server: GrpcServer | undefined;
  let closeDurability: (() => Promise<void>) | undefined;
  let rest: RestApi | undefined;

  return {
    get port() {
      return port;
    },
    get httpPort() {
      return rest?.port;
    },
    async start() {
      if (server !== undefined) throw new Error("embedded Qdrant already started");
      engine = new Engine();
      if (options.dataDir !== undefined) {
        const { openDurability } = await import("./durability.js");
        closeDurability = await openDurability(engine, options.dataDir, log, {
          compactAtBytes: options.compactAtBytes,
        });
      } else {
        log.warn("embedded Qdrant: no data directory, data is kept in memory only and lost on stop");
      }
      server = createGrpcServer(engine, options.apiKey);
      try {
        port = (await server.listen(host, options.port ?? 0)).port;
      } catch (error) {
        // E.g. the port is taken: release the data directory so a retry can open it.
        server = undefined;
        await closeDurability?.();
        closeDurability = undefined;
        engine = undefined;
        throw error;
      }
      if (options.httpPort !== undefined) {
        try {
          rest = await startRestApi({
            storage: () => engine?.storage,
            host,
            port: options.httpPort,
            optional: options.httpPortOptional ?? false,
            apiKey: options.apiKey,
            title: QDRANT_TITLE,
            version: QDRANT_VERSION,
            grpcPort: () => port,
            logger: log,
          });
        } catch (error) {
          await this.stop();
          throw error;
        }
      }
      log.info(
        {
          host,
          port,
          url: `http://${host}:${port}`,
          dataDir: options.dataDir ?? null,
          apiKey: options.apiKey !== undefined,
          version: QDRANT_VERSION,
        },
        "embedded Qdrant ready (gRPC)",
      );
      return { host, port };
    },
    async stop() {
      await rest?.close();
      rest = undefined;
      const s = server;
      server = undefined;
      if (s !== undefined) await s.close();
      if (engine !== undefined) await engine.flushed();
      if (closeDurability !== undefined) await closeDurability();
      closeDurability = undefined;
      engine = undefined;
    },
  };
}
