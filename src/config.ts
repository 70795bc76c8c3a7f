import { join } from "node:path";
import { normalizePostgresUrl, PostgresUrlError } from "./postgres-url.js";
import { isUuid } from "./core/uuid.js";

/**
 * loadConfig(env): the only reader of process.env. Every value is checked here, so a bad deployment
 * stops at start-up with one line naming the variable, never later with a confusing driver error.
 */

export interface PostgresConfig {
  /** A connection URL; undefined means "start the embedded PGlite". */
  url: string | undefined;
  maximumPoolSize: number;
}

export interface QdrantConfig {
  /** undefined means "start the embedded Qdrant-compatible server". */
  host: string | undefined;
  /** The HTTP port (kept for compatibility with the existing deployment; we speak gRPC). */
  httpPort: number;
  grpcPort: number;
  https: boolean;
  apiKey: string | undefined;
  collectionName: string;
  shardNumber: number;
  replicationFactor: number;
  writeConsistencyFactor: number;
  timeoutMs: number;
}

export interface OpenAIConfig {
  apiKey: string;
  baseURL: string | undefined;
  maxConcurrentRequests: number;
}

/** A bearer key and, when scoped, the only catalogs (lower-cased UUIDs) it may name. */
export interface ApiKey {
  key: string;
  catalogs: readonly string[] | undefined;
}

export interface Config {
  grpc: {
    host: string;
    port: number;
    /** Largest request or response message, bytes. */
    maxMessageBytes: number;
    tlsCertFile: string | undefined;
    tlsKeyFile: string | undefined;
    reflection: boolean;
    /** Bearer keys callers must present; empty means no authentication. */
    apiKeys: readonly ApiKey[];
    /** How long stop() waits for in-flight calls before cutting them off. */
    shutdownGraceMs: number;
    /**
     * Expensive calls (writes that embed, catalogs, search, context) in flight per replica; one more
     * answers RESOURCE_EXHAUSTED with a retry hint instead of queueing.
     */
    maxConcurrentExpensiveCalls: number;
  };
  metrics: { host: string; port: number };
  /** Where embedded stores keep their files; undefined = a temporary directory. */
  dataDir: string | undefined;
  /**
   * Where the service keeps what it can rebuild: the prepared cluster a new embedded Postgres data
   * directory is copied from (src/embedded/postgres-template.ts). undefined = no cache.
   */
  cacheDir: string | undefined;
  postgres: PostgresConfig;
  qdrant: QdrantConfig;
  /** Present when OPENAI_API_KEY is set; otherwise the local embedder is used. */
  openai: OpenAIConfig | undefined;
  embedding: { model: string | undefined; dimensions: number };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** How often readiness re-checks Postgres and Qdrant. */
  readinessIntervalMs: number;
  ingest: {
    /** Embeddings per store batch of a stream (one Postgres statement, one Qdrant upsert). */
    streamBatchEmbeddings: number;
    /** Vector and content bytes per store batch of a stream. */
    streamBatchBytes: number;
  };
  /** How often the repairer looks for writes that stopped half-way (core/repairer.ts), and how many per pass. */
  repair: { intervalMs: number; batch: number };
}

/** Raised for an invalid variable; its message is the one line start-up prints. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`invalid configuration: ${variable} ${message}`);
    this.variable = variable;
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** This process's environment, for tools that take an env object (tests hand them their own). */
/**
 * `API_KEYS` entries: `key` (any catalog) or `key:catalog-uuid|catalog-uuid` (only those catalogs).
 * Errors name the entry by position, never by its text: the text is a secret.
 */
function parseApiKeys(entries: readonly string[]): ApiKey[] {
  return entries.map((entry, index) => {
    const colon = entry.indexOf(":");
    if (colon === -1) return { key: entry, catalogs: undefined };
    const key = entry.slice(0, colon);
    const catalogs = entry
      .slice(colon + 1)
      .split("|")
      .map((catalog) => catalog.trim());
    if (key === "" || catalogs.some((catalog) => !isUuid(catalog))) {
      throw new ConfigError(
        "API_KEYS",
        `entry ${index + 1} must be "key" or "key:catalog-uuid|catalog-uuid" (a key with a scope of catalog UUIDs)`,
      );
    }
    return { key, catalogs: catalogs.map((catalog) => catalog.toLowerCase()) };
  });
}

export function processEnv(): Env {
  return process.env;
}

/** The configuration of this process: what main and the command-line tools start from. */
export function loadProcessConfig(): Config {
  return loadConfig(process.env);
}

const EMBEDDING_PROVIDERS = ["auto", "openai", "local"] as const;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function loadConfig(env: Env): Config {
  const read = createReader(env);
  // EMBEDDING_PROVIDER: "auto" (OpenAI when OPENAI_API_KEY is set, else local), "openai" (the key is
  // required: the production compose stack sets this so it never silently embeds with the local model),
  // or "local" (ignore any key).
  const provider = read.oneOf("EMBEDDING_PROVIDER", EMBEDDING_PROVIDERS, "auto");
  const openaiKey = provider === "local" ? undefined : read.string("OPENAI_API_KEY");
  if (provider === "openai" && openaiKey === undefined) {
    throw new ConfigError(
      "OPENAI_API_KEY",
      "must be set when EMBEDDING_PROVIDER is openai (set EMBEDDING_PROVIDER=local to run the local embedder instead)",
    );
  }
  const tlsCertFile = read.string("TLS_CERT_FILE");
  const tlsKeyFile = read.string("TLS_KEY_FILE");
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError(
      tlsCertFile === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
      "must be set together with its pair (TLS_CERT_FILE and TLS_KEY_FILE)",
    );
  }
  return {
    grpc: {
      host: read.string("GRPC_HOST") ?? "0.0.0.0",
      port: read.port("GRPC_PORT", 50051),
      maxMessageBytes: read.integer("GRPC_MAX_MESSAGE_BYTES", 64 * 1024 * 1024, 1024, 2 ** 31 - 1),
      tlsCertFile,
      tlsKeyFile,
      reflection: read.boolean("GRPC_REFLECTION", true),
      apiKeys: parseApiKeys(read.list("API_KEYS")),
      shutdownGraceMs: read.integer("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
      maxConcurrentExpensiveCalls: read.integer("MAX_CONCURRENT_EXPENSIVE_CALLS", 8, 1, 10_000),
    },
    metrics: {
      // Loopback by default: the series name catalog ids. Set 0.0.0.0 for a scraper on another host.
      host: read.string("METRICS_HOST") ?? "127.0.0.1",
      port: read.port("METRICS_PORT", 9464),
    },
    dataDir: read.string("DATA_DIR"),
    cacheDir: cacheDir(read),
    postgres: {
      url: postgresUrl(read),
      maximumPoolSize: read.integer("POSTGRES_POOL_SIZE", 10, 1, 1000),
    },
    qdrant: qdrantConfig(read),
    openai:
      openaiKey === undefined
        ? undefined
        : {
            apiKey: openaiKey,
            baseURL: read.url("OPENAI_BASE_URL"),
            maxConcurrentRequests: read.integer("OPENAI_MAX_CONCURRENT_REQUESTS", 4, 1, 64),
          },
    embedding: {
      model: read.string("EMBEDDING_MODEL"),
      dimensions: read.integer("EMBEDDING_DIMENSIONS", 3072, 1, 65_536),
    },
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    readinessIntervalMs: read.integer("READINESS_INTERVAL_MS", 2_000, 50, 600_000),
    ingest: {
      streamBatchEmbeddings: read.integer("STREAM_BATCH_EMBEDDINGS", 512, 1, 1000),
      streamBatchBytes: read.integer("STREAM_BATCH_BYTES", 16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    },
    repair: {
      intervalMs: read.integer("REPAIR_INTERVAL_MS", 1_000, 10, 600_000),
      batch: read.integer("REPAIR_BATCH", 500, 1, 10_000),
    },
  };
}

/** CACHE_DIR, else the XDG cache directory ($XDG_CACHE_HOME or ~/.cache) + /dq-embeddings; "off": none. */
function cacheDir(read: Reader): string | undefined {
  const configured = read.string("CACHE_DIR");
  if (configured === "off") return undefined;
  if (configured !== undefined) return configured;
  const home = read.string("HOME");
  const base = read.string("XDG_CACHE_HOME") ?? (home === undefined ? undefined : join(home, ".cache"));
  return base === undefined ? undefined : join(base, "dq-embeddings");
}

function postgresUrl(read: Reader): string | undefined {
  const url = read.string("DATABASE_URL");
  if (url !== undefined) {
    // libpq's forms too, e.g. a Unix socket: postgres://user@/db?host=/var/run/postgresql
    try {
      return normalizePostgresUrl(url);
    } catch (error) {
      // Never echo the value: URLs carry passwords.
      throw new ConfigError("DATABASE_URL", error instanceof PostgresUrlError ? error.message : "is not a valid URL");
    }
  }
  const host = read.string("POSTGRES_HOST");
  if (host === undefined) {
    return undefined;
  }
  const port = read.port("POSTGRES_PORT", 5432);
  const database = read.string("POSTGRES_DB") ?? "postgres";
  const user = read.string("POSTGRES_USER") ?? "postgres";
  const password = read.string("POSTGRES_PASSWORD");
  const credentials =
    password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  // POSTGRES_HOST=/var/run/postgresql names a socket directory, as in libpq.
  const target = host.startsWith("/") ? encodeURIComponent(host) : host;
  return `postgres://${credentials}@${target}:${port}/${encodeURIComponent(database)}`;
}

function qdrantConfig(read: Reader): QdrantConfig {
  // QDRANT_URL (e.g. http://qdrant:6334) is accepted as a shorthand for host + gRPC port.
  const url = read.url("QDRANT_URL");
  let host = read.string("QDRANT_HOST");
  let grpcPort = read.port("QDRANT_GRPC_PORT", 6334);
  let https = read.boolean("QDRANT_HTTPS", false);
  if (url !== undefined) {
    const parsed = new URL(url);
    host = parsed.hostname;
    https = parsed.protocol === "https:";
    if (parsed.port !== "") {
      grpcPort = Number(parsed.port);
    }
  }
  return {
    host,
    httpPort: read.port("QDRANT_PORT", 6333),
    grpcPort,
    https,
    apiKey: read.string("QDRANT_API_KEY"),
    collectionName: read.identifier("QDRANT_COLLECTION_NAME", "embeddings"),
    shardNumber: read.integer("QDRANT_SHARD_NUMBER", 1, 1, 1024),
    replicationFactor: read.integer("QDRANT_REPLICATION_FACTOR", 1, 1, 64),
    writeConsistencyFactor: read.integer("QDRANT_WRITE_CONSISTENCY_FACTOR", 1, 1, 64),
    timeoutMs: read.integer("QDRANT_TIMEOUT_MS", 30_000, 100, 600_000),
  };
}

type Reader = ReturnType<typeof createReader>;

function createReader(env: Env) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) {
      return fallback;
    }
    if (!/^-?\d+$/.test(value)) {
      throw new ConfigError(name, `must be a whole number, got "${value}"`);
    }
    const parsed = Number(value);
    if (parsed < min || parsed > max) {
      throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
    }
    return parsed;
  };
  return {
    string: raw,
    integer,
    port: (name: string, fallback: number) => integer(name, fallback, 0, 65_535),
    boolean(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) {
        return fallback;
      }
      if (["1", "true", "yes", "on"].includes(value)) {
        return true;
      }
      if (["0", "false", "no", "off"].includes(value)) {
        return false;
      }
      throw new ConfigError(name, `must be true or false, got "${value}"`);
    },
    list(name: string): string[] {
      return (raw(name) ?? "")
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
    },
    url(name: string): string | undefined {
      const value = raw(name);
      if (value === undefined) {
        return undefined;
      }
      try {
        new URL(value);
      } catch {
        // Never echo the value: URLs carry passwords.
        throw new ConfigError(name, "is not a valid URL");
      }
      return value;
    },
    identifier(name: string, fallback: string): string {
      const value = raw(name) ?? fallback;
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(value)) {
        throw new ConfigError(name, `must be 1-255 letters, digits, "_" or "-", got "${value}"`);
      }
      return value;
    },
    oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
      const value = raw(name) ?? fallback;
      if (!allowed.includes(value as T)) {
        throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${value}"`);
      }
      return value as T;
    },
  };
}
