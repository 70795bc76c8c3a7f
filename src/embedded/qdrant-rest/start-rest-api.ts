import type { Logger } from "pino";
import type { Storage } from "../qdrant/storage.js";
import { createQdrantRestServer } from "./rest-server.js";

export interface RestApiOptions {
  storage: () => Storage | undefined;
  host: string;
  /** Qdrant's HTTP port (QDRANT_PORT, 6333); 0 = any free port. */
  port: number;
  /** When true, a port already in use is a warning and the server runs without its REST face. */
  optional: boolean;
  apiKey?: string;
  title: string;
  version: string;
  grpcPort: () => number;
  logger: Logger;
}

export interface RestApi {
  /** The bound port; undefined when an optional port was taken. */
  port: number | undefined;
  close(): Promise<void>;
}

/** Starts the embedded Qdrant's REST API (./rest-server.ts) beside its gRPC server. */
export async function startRestApi(options: RestApiOptions): Promise<RestApi> {
  const server = createQdrantRestServer(options);
  try {
    const address = await server.listen(options.host, options.port);
    options.logger.info(
      { host: options.host, httpPort: address.port, url: `http://${options.host}:${address.port}` },
      "embedded Qdrant REST API ready (/, /collections, /healthz, /readyz, /metrics)",
    );
    return { port: address.port, close: () => server.close() };
  } catch (error) {
    if (options.optional && (error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      options.logger.warn(
        { host: options.host, httpPort: options.port },
        `embedded Qdrant REST API NOT started: port ${options.port} is in use (set QDRANT_PORT to a free port, or 0 for any); gRPC is unaffected`,
      );
      return { port: undefined, close: async () => {} };
    }
    throw error;
  }
}
