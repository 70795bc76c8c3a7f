import { chmod, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PGlite, type Extensions } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import type { Logger } from "pino";
import { tighten } from "./private-dir.js";

/**
 * The pool size to use against the embedded server. PGlite is one backend: the socket server runs one
 * query at a time and serializes transactions across connections, so a larger pool only queues (and a
 * pool holding a transaction open on one connection while another waits could stall).
 */
export const EMBEDDED_POSTGRES_POOL_SIZE = 1;

/**
 * Connections the socket server accepts at once: the pool's one, plus short-lived ones (Slonik's type
 * lookup at pool creation, node-pg-migrate's client). They still run one query at a time.
 */
const MAX_SOCKET_CONNECTIONS = 8;

/** The port number in the socket file's name (libpq looks for `<dir>/.s.PGSQL.<port>`). */
const SOCKET_PORT = 5432;

export interface EmbeddedPostgresOptions {
  /** Where PGlite keeps its files; omitted means in memory (lost at stop). */
  dataDir?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /**
   * Listen on a Unix socket in this directory (made 0700) instead of TCP: PGlite checks no password,
   * so only a socket other users cannot reach keeps other local processes out. The service uses it.
   */
  socketDir?: string;
  logger: Logger;
  /** Load pgvector (`CREATE EXTENSION vector` still has to be run). */
  extensions?: { vector?: boolean };
}

export interface EmbeddedPostgres {
  /** Starts PGlite and its socket server; resolves to a URL any Postgres client can use. */
  start(): Promise<{ url: string }>;
  /** Closes every client connection, frees the port and closes PGlite. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Postgres with nothing installed: PGlite (Postgres compiled to WebAssembly) behind
 * `@electric-sql/pglite-socket`, so Slonik and node-pg-migrate connect over the ordinary wire protocol.
 * Use a pool of `EMBEDDED_POSTGRES_POOL_SIZE`. PGlite has a single user and database (`postgres`) and
 * accepts any password, so the URL is `postgres://postgres:postgres@host:port/postgres`.
 */
export function createEmbeddedPostgres(options: EmbeddedPostgresOptions): EmbeddedPostgres {
  const { logger } = options;
  let running: { db: PGlite; server: PGLiteSocketServer } | undefined;
  let starting: Promise<{ url: string }> | undefined;

  async function start(): Promise<{ url: string }> {
    const extensions: Extensions = {};
    if (options.extensions?.vector) {
      const { vector } = await import("@electric-sql/pglite-pgvector");
      extensions.vector = vector;
    }
    if (options.dataDir !== undefined) {
      await mkdir(options.dataDir, { recursive: true });
    }
    const db = await PGlite.create({ dataDir: options.dataDir, extensions });
    if (options.dataDir !== undefined) await tighten(options.dataDir);
    const socketPath = options.socketDir === undefined ? undefined : join(options.socketDir, `.s.PGSQL.${SOCKET_PORT}`);
    if (options.socketDir !== undefined) {
      await mkdir(options.socketDir, { recursive: true, mode: 0o700 });
      await chmod(options.socketDir, 0o700);
      await rm(socketPath!, { force: true });
    }
    const server = new PGLiteSocketServer({
      db,
      ...(socketPath === undefined
        ? { host: options.host ?? "127.0.0.1", port: options.port ?? 0 }
        : { path: socketPath }),
      maxConnections: MAX_SOCKET_CONNECTIONS,
    });
    try {
      await server.start();
    } catch (error) {
      await db.close();
      throw error;
    }
    running = { db, server };
    const address = socketPath ?? server.getServerConn();
    // A host that is a directory (percent-encoded) names the Unix socket `<dir>/.s.PGSQL.<port>`, as
    // libpq, pg and Slonik read it.
    const url =
      options.socketDir === undefined
        ? `postgres://postgres:postgres@${formatHostPort(address)}/postgres`
        : `postgres://postgres@${encodeURIComponent(options.socketDir)}:${SOCKET_PORT}/postgres`;
    logger.warn(
      { postgres: address, dataDir: options.dataDir ?? "memory", pgvector: options.extensions?.vector === true },
      options.dataDir === undefined
        ? "using embedded PGlite Postgres in memory: data is lost at exit; set DATABASE_URL for a real server"
        : "using embedded PGlite Postgres; set DATABASE_URL for a real server",
    );
    return { url };
  }

  return {
    start() {
      if (starting === undefined) {
        starting = start().catch((error: unknown) => {
          starting = undefined;
          throw error;
        });
      }
      return starting;
    },

    async stop() {
      if (starting !== undefined) {
        await starting.catch(() => undefined);
      }
      const current = running;
      running = undefined;
      starting = undefined;
      if (current === undefined) {
        return;
      }
      // Detaches (and destroys) every client socket, then waits for the listening socket to close.
      await current.server.stop();
      if (!current.db.closed) {
        await current.db.close();
      }
      if (options.dataDir !== undefined) await tighten(options.dataDir);
      logger.debug("embedded Postgres stopped");
    },
  };
}

/** `getServerConn()` gives `host:port`; IPv6 hosts need brackets in a URL. */
function formatHostPort(address: string): string {
  const separator = address.lastIndexOf(":");
  const host = address.slice(0, separator);
  const port = address.slice(separator + 1);
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
