import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { collectionInfo } from "../qdrant/collection-info.js";
import type { Storage } from "../qdrant/storage.js";
import { listenOn } from "../qdrant/listen.js";
import { collectionInfoJson } from "./collection-json.js";
import { createQdrantMetrics } from "./metrics.js";

export interface QdrantRestOptions {
  /** The embedded server's state, read at request time (undefined before start / after stop). */
  storage: () => Storage | undefined;
  /** When set, every path but /, /healthz, /readyz and /livez needs it (api-key or Authorization: Bearer). */
  apiKey?: string;
  title: string;
  version: string;
  /** Named in the error for paths this read-only API does not serve. */
  grpcPort: () => number;
  logger: Logger;
}

export interface QdrantRestServer {
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

type JsonBody = Record<string, unknown>;

/** Paths Qdrant serves without a key (src/actix/mod.rs: exact "/" and "/healthz", prefixes "/readyz", "/livez"). */
function isWhitelisted(path: string): boolean {
  return path === "/" || path === "/healthz" || path.startsWith("/readyz") || path.startsWith("/livez");
}

/**
 * The read side of Qdrant's REST API that operators verify an install with, on the embedded server:
 * `GET /` (version), `/healthz`, `/livez`, `/readyz`, `/metrics`, `GET /collections`,
 * `GET /collections/{name}` (through aliases), `/collections/{name}/exists`, `/aliases` and
 * `/collections/{name}/aliases`. Same paths, status codes and JSON shapes as Qdrant 1.19 (its
 * docs/redoc/master/openapi.json). Writes and searches stay on gRPC.
 */
export function createQdrantRestServer(options: QdrantRestOptions): QdrantRestServer {
  const metrics = createQdrantMetrics(options.storage, options.version);
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const json = (status: number, body: JsonBody) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    const ok = (result: unknown) => json(200, { result, status: "ok", time: seconds() });
    const error = (status: number, message: string) => json(status, { status: { error: message }, time: seconds() });
    const text = (status: number, body: string) => res.writeHead(status, { "content-type": "text/plain" }).end(body);

    const path = decodePath(req.url ?? "/");
    if (path === undefined) return error(400, "Bad request: the path is not valid percent-encoding");
    if (options.apiKey !== undefined && !isWhitelisted(path)) {
      const presented = headerKey(req);
      if (presented === undefined) return text(401, "Must provide an API key or an Authorization bearer token");
      if (!sameKey(presented, options.apiKey)) return text(401, "Invalid API key or JWT");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return error(
        405,
        `Method not allowed: the embedded Qdrant's REST API only reads (GET); write through its gRPC API on port ${options.grpcPort()}`,
      );
    }
    const storage = options.storage();
    if (storage === undefined) return error(503, "Service unavailable: the embedded Qdrant is stopping");

    const segments = path.split("/").filter((segment) => segment !== "");
    try {
      if (segments.length === 0) return json(200, { title: options.title, version: options.version });
      if (path === "/healthz" || path === "/livez") return text(200, "healthz check passed");
      if (path === "/readyz") return text(200, "all shards are ready");
      if (path === "/metrics") {
        metrics.metrics().then(
          (body) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(body),
          (cause: unknown) => {
            options.logger.error({ err: cause }, "embedded Qdrant metrics failed");
            error(500, "Service internal error: metrics collection failed");
          },
        );
        return;
      }
      if (path === "/collections")
        return ok({ collections: [...storage.collections.keys()].sort().map((name) => ({ name })) });
      if (path === "/aliases") return ok({ aliases: aliasList(storage) });
      if (segments[0] === "collections" && segments.length === 2) {
        return ok(collectionInfoJson(collectionInfo(storage.resolve(segments[1]))));
      }
      if (segments[0] === "collections" && segments.length === 3 && segments[2] === "exists") {
        const name = storage.aliases.get(segments[1]) ?? segments[1];
        return ok({ exists: storage.collections.has(name) });
      }
      if (segments[0] === "collections" && segments.length === 3 && segments[2] === "aliases") {
        storage.resolve(segments[1]); // NOT_FOUND for an unknown collection, as Qdrant answers
        return ok({ aliases: aliasList(storage).filter((alias) => alias.collection_name === segments[1]) });
      }
      return error(
        404,
        `Not found: the embedded Qdrant's REST API serves /, /healthz, /readyz, /livez, /metrics, /collections, /collections/{name}, /collections/{name}/exists, /aliases and /collections/{name}/aliases; everything else is on its gRPC API on port ${options.grpcPort()}`,
      );
    } catch (cause) {
      if (cause instanceof ConnectError && cause.code === 5 /* NotFound */) return error(404, cause.rawMessage);
      options.logger.error({ err: cause, path }, "embedded Qdrant REST call failed");
      return error(500, "Service internal error: see the embedded Qdrant's log");
    }
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  return {
    listen: (host, port) => listenOn(server, host, port),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function aliasList(storage: Storage): Array<{ alias_name: string; collection_name: string }> {
  return [...storage.aliases]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([alias, collection]) => ({ alias_name: alias, collection_name: collection }));
}

function decodePath(url: string): string | undefined {
  const raw = url.split("?")[0];
  try {
    const decoded = decodeURIComponent(raw);
    return decoded.length > 1 && decoded.endsWith("/") ? decoded.slice(0, -1) : decoded;
  } catch {
    return undefined;
  }
}

function headerKey(req: http.IncomingMessage): string | undefined {
  const apiKey = req.headers["api-key"];
  if (typeof apiKey === "string") return apiKey;
  const authorization = req.headers.authorization;
  return authorization?.startsWith("Bearer ") ? authorization.slice("Bearer ".length) : undefined;
}

function sameKey(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
