import { readFile } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";

/**
 * HTTP/2 flow-control windows. Node's 64 KiB default caps a loopback stream near 430 MB/s; 4 MiB per
 * stream and 32 MiB per connection let 12 KiB vectors flow at memory speed (DESIGN.md).
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest message read or written, bytes. */
  maxMessageBytes: number;
  tls?: { certFile: string; keyFile: string };
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  logger: Logger;
}

export interface GrpcServer {
  /** Binds and listens; resolves with the bound port (useful with port 0). */
  start(): Promise<{ host: string; port: number }>;
  /** Stops accepting connections; in-flight calls go on. */
  stopAccepting(): void;
  /** Aborts calls still running (their handlers see context.signal abort) and closes every session. */
  close(): Promise<void>;
}

/**
 * A connect-node server on a node:http2 server we own: plaintext HTTP/2 (h2c) by default, TLS with a
 * certificate. Serves gRPC, gRPC-Web and Connect; accepts gzip.
 */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const shutdown = new AbortController();
  const sessions = new Set<http2.Http2Session>();
  let server: http2.Http2Server | http2.Http2SecureServer | undefined;
  let closed: Promise<void> | undefined;

  const closeListener = (): Promise<void> => {
    if (closed === undefined) {
      const current = server;
      closed = current === undefined ? Promise.resolve() : new Promise((resolve) => current.close(() => resolve()));
    }
    return closed;
  };

  return {
    async start() {
      const handler = connectNodeAdapter({
        routes: options.routes,
        interceptors: options.interceptors,
        readMaxBytes: options.maxMessageBytes,
        writeMaxBytes: options.maxMessageBytes,
        shutdownSignal: shutdown.signal,
        grpc: true,
        grpcWeb: true,
        connect: true,
      });
      const settings: http2.Settings = { initialWindowSize: STREAM_WINDOW_BYTES, maxFrameSize: 1024 * 1024 };
      server =
        options.tls === undefined
          ? http2.createServer({ settings }, handler)
          : http2.createSecureServer(
              { settings, cert: await readFile(options.tls.certFile), key: await readFile(options.tls.keyFile), allowHTTP1: true },
              handler,
            );
      server.on("session", (session: http2.Http2Session) => {
        sessions.add(session);
        session.once("close", () => sessions.delete(session));
        session.once("connect", () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
        if (!session.connecting) {
          session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
        }
      });
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once("error", reject);
        listening.listen(options.port, options.host, () => {
          listening.off("error", reject);
          resolve();
        });
      });
      const address = listening.address() as AddressInfo;
      return { host: options.host, port: address.port };
    },

    stopAccepting() {
      void closeListener();
      // Tell clients on open connections to go elsewhere; streams already open may finish.
      for (const session of sessions) {
        if (!session.closed && !session.destroyed) {
          session.goaway(http2.constants.NGHTTP2_NO_ERROR);
        }
      }
    },

    async close() {
      shutdown.abort(new Error("server is shutting down"));
      const listenerClosed = closeListener();
      for (const session of sessions) {
        session.close();
      }
      // Sessions that do not close promptly (a client that keeps its connection) are destroyed.
      const deadline = setTimeout(() => sessions.forEach((session) => session.destroy()), 1_000);
      await listenerClosed;
      clearTimeout(deadline);
      sessions.clear();
    },
  };
}
