import { readFile } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { compressionGzip } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { createNodeHandler } from "./node-handler.js";

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

/** The client connection preface of HTTP/2 (RFC 9113 section 3.4): h2c "prior knowledge" starts with it. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A connection that sends nothing for this long before its protocol is known is closed. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * A connect-node server on node:http2 / node:http servers we own. Plaintext (the default), one port
 * speaks both HTTP/2 with prior knowledge (gRPC, what grpcurl and gRPC clients send) and HTTP/1.1
 * (Connect, gRPC-Web: browsers, `fetch`, `curl`): a net.Server peeks at the first bytes of each
 * connection and hands it to the HTTP/2 server when they are the HTTP/2 preface, to the HTTP/1.1 server
 * otherwise. node:http2's own `allowHTTP1` only works with TLS (it chooses by ALPN), which is what the
 * TLS path uses. Serves gRPC, gRPC-Web and Connect; accepts gzip.
 */
/** The smallest response message the server compresses. */
export const RESPONSE_COMPRESS_MIN_BYTES = 64 * 1024;

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const shutdown = new AbortController();
  const sessions = new Set<http2.Http2Session>();
  const http1Sockets = new Set<Socket>();
  const unrouted = new Set<Socket>();
  let listener: net.Server | http2.Http2SecureServer | undefined;
  let http1: http.Server | undefined;
  let closed: Promise<void> | undefined;

  const closeListener = (): Promise<void> => {
    if (closed === undefined) {
      const current = listener;
      closed =
        current === undefined || !current.listening
          ? Promise.resolve()
          : new Promise((resolve) => current.close(() => resolve()));
    }
    return closed;
  };

  const trackSessions = (server: http2.Http2Server | http2.Http2SecureServer) => {
    server.on("session", (session: http2.Http2Session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
      session.once("connect", () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
      if (!session.connecting) {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      }
    });
  };

  return {
    async start() {
      const handler = createNodeHandler({
        routes: options.routes,
        logger: options.logger,
        interceptors: options.interceptors,
        readMaxBytes: options.maxMessageBytes,
        writeMaxBytes: options.maxMessageBytes,
        // gzip only: gRPC defines no brotli, and an encoding the server does not take must answer
        // UNIMPLEMENTED (with the accepted list in grpc-accept-encoding), not fail mid-decompression.
        acceptCompression: [compressionGzip],
        // Responses are gzipped (for a caller that accepts it) only from 64 KiB: below that, gzip costs
        // more CPU than the bytes save (~1 ms of a 10-hit SearchEmbeddings answer), as grpc-go and
        // grpc-js servers, which compress nothing unless told to, also decide.
        compressMinBytes: RESPONSE_COMPRESS_MIN_BYTES,
        shutdownSignal: shutdown.signal,
        grpc: true,
        grpcWeb: true,
        connect: true,
      });
      const settings: http2.Settings = { initialWindowSize: STREAM_WINDOW_BYTES, maxFrameSize: 1024 * 1024 };
      if (options.tls === undefined) {
        const h2 = http2.createServer({ settings }, handler);
        trackSessions(h2);
        const h1 = http.createServer(handler);
        http1 = h1;
        h1.on("connection", (socket: Socket) => {
          http1Sockets.add(socket);
          socket.once("close", () => http1Sockets.delete(socket));
        });
        listener = net.createServer((socket) => {
          // Tracked from the first byte so close() can end connections that never sent a request.
          unrouted.add(socket);
          socket.once("close", () => unrouted.delete(socket));
          routeConnection(socket, h2, h1, options.logger, () => unrouted.delete(socket));
        });
      } else {
        const secure = http2.createSecureServer(
          {
            settings,
            cert: await readFile(options.tls.certFile),
            key: await readFile(options.tls.keyFile),
            allowHTTP1: true,
          },
          handler,
        );
        trackSessions(secure);
        listener = secure;
      }
      const listening = listener;
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
      // HTTP/1.1: idle keep-alive connections close now; busy ones answer `connection: close`.
      http1?.closeIdleConnections();
    },

    async close() {
      shutdown.abort(new Error("server is shutting down"));
      const listenerClosed = closeListener();
      for (const session of sessions) {
        session.close();
      }
      http1?.closeIdleConnections();
      // Connections that do not close promptly (a client that keeps its connection) are destroyed.
      const deadline = setTimeout(() => {
        sessions.forEach((session) => session.destroy());
        http1Sockets.forEach((socket) => socket.destroy());
      }, 1_000);
      unrouted.forEach((socket) => socket.destroy());
      await listenerClosed;
      await waitUntilEmpty(sessions, http1Sockets);
      unrouted.clear();
      clearTimeout(deadline);
      sessions.clear();
      http1Sockets.clear();
    },
  };
}

/** Resolves once every tracked session and socket has closed (they remove themselves on close). */
async function waitUntilEmpty(sessions: Set<http2.Http2Session>, sockets: Set<Socket>): Promise<void> {
  const pending: Array<Promise<void>> = [];
  for (const session of sessions) {
    pending.push(
      new Promise((resolve) =>
        session.closed || session.destroyed ? resolve() : session.once("close", () => resolve()),
      ),
    );
  }
  for (const socket of sockets) {
    pending.push(new Promise((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve()))));
  }
  await Promise.all(pending);
}

/**
 * Reads the first bytes of a plaintext connection and gives it to the HTTP/2 server if they are the
 * HTTP/2 preface, to the HTTP/1.1 server otherwise. The bytes read are pushed back first.
 */
function routeConnection(
  socket: Socket,
  h2: http2.Http2Server,
  h1: http.Server,
  logger: Logger,
  routed: () => void,
): void {
  let seen: Buffer = Buffer.alloc(0);
  const onError = (error: Error) => {
    logger.debug({ err: error }, "connection failed before its protocol was known");
    socket.destroy();
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    }
    const compared = Math.min(seen.length, HTTP2_PREFACE.length);
    const isPrefix = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (isPrefix && seen.length < HTTP2_PREFACE.length) {
      return; // wait for more bytes (a preface split across packets)
    }
    socket.off("readable", onReadable);
    socket.off("error", onError);
    socket.off("end", onEnd);
    socket.setTimeout(0);
    socket.off("timeout", onTimeout);
    socket.unshift(seen);
    routed();
    (isPrefix ? h2 : h1).emit("connection", socket);
  };
  const onEnd = () => socket.destroy();
  const onTimeout = () => socket.destroy();
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS);
  socket.once("timeout", onTimeout);
  socket.on("readable", onReadable);
  socket.once("error", onError);
  socket.once("end", onEnd);
}
