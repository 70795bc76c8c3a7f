import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite, type Extensions, type PGliteOptions } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import type { Logger } from "pino";
import { copyTemplate, ensureTemplate, hasCluster, pgliteVersion } from "./postgres-template.js";
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
  /**
   * Where the prepared cluster is kept (postgres-template.ts): an empty or missing `dataDir` starts as
   * a copy of it instead of running initdb; made here on first use. Omitted: initdb every time.
   */
  cacheDir?: string;
  /**
   * Run on the prepared cluster before it is kept (the service's migrations), so that every copy starts
   * with it done. `key` names what it does (a hash of the migrations): another key, another template.
   */
  prepareTemplate?: { key: string; run(url: string): Promise<void> };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /**
   * Listen on a Unix socket in this directory (made 0700) instead of TCP: PGlite checks no password,
   * so only a socket other users cannot reach keeps other local processes out. The service uses it.
   */
  socketDir?: string;
  /**
   * Postgres's `shared_buffers`; omitted: PGlite's (128MB). PGlite zeroes the pool at start, so all of
   * it is resident from the first second, used or not.
   */
  sharedBuffers?: string;
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
    // Compiling Postgres's WebAssembly (9 MB) runs on V8's background threads while the cluster is copied.
    const wasmModule = pgliteWasm();
    const cluster = options.dataDir === undefined ? "memory" : await prepareDataDir(options.dataDir);
    const db = await PGlite.create({
      dataDir: options.dataDir,
      extensions,
      pgliteWasmModule: await wasmModule,
      startParams: [
        ...PGlite.defaultStartParams,
        ...(options.sharedBuffers === undefined ? [] : ["-c", `shared_buffers=${options.sharedBuffers}`]),
      ],
    });
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
      {
        postgres: address,
        dataDir: options.dataDir ?? "memory",
        cluster,
        pgvector: options.extensions?.vector === true,
      },
      options.dataDir === undefined
        ? "using embedded PGlite Postgres in memory: data is lost at exit; set DATABASE_URL for a real server"
        : "using embedded PGlite Postgres; set DATABASE_URL for a real server",
    );
    return { url };
  }

  /**
   * How the cluster in `dataDir` came to be: already there, copied from the prepared template, or left
   * to PGlite's initdb (no cache directory, or the cache failed: slower, never fatal).
   */
  async function prepareDataDir(dataDir: string): Promise<"existing" | "template" | "initdb"> {
    if (await hasCluster(dataDir)) return "existing";
    if (options.cacheDir !== undefined) {
      try {
        const template = await ensurePostgresTemplate({
          cacheDir: options.cacheDir,
          prepareTemplate: options.prepareTemplate,
          logger,
        });
        if (await copyTemplate(template, dataDir)) return "template";
      } catch (error) {
        logger.warn(
          { err: error, cacheDir: options.cacheDir },
          "could not use the prepared Postgres cluster in the cache directory; running initdb instead (slower)",
        );
      }
    }
    await mkdir(dataDir, { recursive: true });
    return "initdb";
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

/**
 * The directory of the prepared cluster in `cacheDir` (postgres-template.ts), made when missing: the
 * plain one by initdb; a prepared one as a copy of the plain one (made first if need be) on which
 * `prepareTemplate.run` has run, so one initdb serves both.
 */
export async function ensurePostgresTemplate(options: {
  cacheDir: string;
  prepareTemplate?: EmbeddedPostgresOptions["prepareTemplate"];
  logger: Logger;
}): Promise<string> {
  const { cacheDir, prepareTemplate, logger } = options;
  const plain = `pglite-${await pgliteVersion()}`;
  const { dir } = await ensureTemplate({
    cacheDir,
    name: prepareTemplate === undefined ? plain : `${plain}-${prepareTemplate.key}`,
    async initialise(staging) {
      // Its own private socket directory: the cluster is served only while it is being prepared.
      const socketDir = await mkdtemp(join(tmpdir(), "dq-pg-template-"));
      const embedded = createEmbeddedPostgres({
        dataDir: staging,
        socketDir,
        // The plain template is initdb's work; a prepared one starts as a copy of the plain one.
        cacheDir: prepareTemplate === undefined ? undefined : cacheDir,
        logger: logger.child({}, { level: "error" }),
      });
      try {
        const { url } = await embedded.start();
        await prepareTemplate?.run(url);
      } finally {
        await embedded.stop();
        await rm(socketDir, { recursive: true, force: true });
      }
    },
    logger,
  });
  return dir;
}

type WasmModule = NonNullable<PGliteOptions["pgliteWasmModule"]>;
/** The one call of the WebAssembly JS API used here (the project's TS libs do not declare it). */
const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } })
  .WebAssembly;

let compiled: Promise<WasmModule> | undefined; // immutable compiled code, shared by every PGlite here

/**
 * PGlite's Postgres module, compiled once per process: the file PGlite.create would otherwise fetch and
 * compile itself on every start.
 */
function pgliteWasm(): Promise<WasmModule> {
  compiled ??= (async () => {
    // The package's entry is <package>/dist/index.cjs, next to pglite.wasm.
    const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    return wasmApi.compile(await readFile(join(dirname(entry), "pglite.wasm")));
  })();
  // A failed compile is not kept: the next start tries again (and reports it).
  compiled.catch(() => (compiled = undefined));
  return compiled;
}

/** `getServerConn()` gives `host:port`; IPv6 hosts need brackets in a URL. */
function formatHostPort(address: string): string {
  const separator = address.lastIndexOf(":");
  const host = address.slice(0, separator);
  const port = address.slice(separator + 1);
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
