/**
 * `npm run migrate-pgvector -- [--dry-run | --verify | --cutover | --rollback] [options]`: moves the
 * vectors of an installation that kept them in a pgvector column into Qdrant, without re-embedding.
 * The logic lives in `src/pgvector/`; this file parses arguments, reads the configuration, builds the
 * parts and prints what happened.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import type { DatabasePool } from "slonik";
import { createConfiguredEmbedder } from "../backends/embedder.js";
import { createConfiguredVectorStore, openQdrant, type QdrantBackend } from "../backends/qdrant.js";
import { ConfigError, loadProcessConfig, type Config } from "../config.js";
import { DomainError } from "../core/errors.js";
import type { Embedder } from "../embedders/embedder.js";
import { cutoverPgvector, rollbackPgvector } from "../pgvector/cutover.js";
import { dryRunPgvector } from "../pgvector/dry-run.js";
import { DEFAULT_BATCH_SIZE, DEFAULT_COLUMN, DEFAULT_TABLE, DEFAULT_UPSERT_BATCH_SIZE, migratePgvector } from "../pgvector/migrate.js";
import { createLogProgress, createTerminalProgress, type ProgressReporter } from "../pgvector/progress.js";
import { formatCutover, formatDryRun, formatMigrate, formatRollback, formatVerify } from "../pgvector/report-text.js";
import { verifyPgvectorMigration } from "../pgvector/verify.js";
import { runMigrations } from "../stores/migrations.js";
import { createPostgresPool } from "../stores/postgres-pool.js";
import type { VectorStore } from "../stores/vector-store.js";

const USAGE = `usage: npm run migrate-pgvector -- [mode] [options]

Moves the vectors of dq_embeddings' pgvector column into Qdrant without re-embedding them.
Postgres, Qdrant and OpenAI come from the service's configuration (DATABASE_URL or POSTGRES_*,
QDRANT_URL or QDRANT_HOST/QDRANT_GRPC_PORT, QDRANT_COLLECTION_NAME, EMBEDDING_DIMENSIONS, OPENAI_API_KEY).

modes (one at most; none = migrate):
  (none)               run the schema migration, then copy every usable vector into Qdrant and
                       write qdrant_point_id back; resumes an interrupted run from its checkpoint
  --dry-run            count rows, dimensions and null vectors and say what would happen; writes nothing
  --verify             compare Qdrant with pgvector (counts per catalog, a point per row, payloads,
                       vectors, recall@10 of a sample); prints the report and writes it as JSON
  --cutover            drop the pgvector column (and the extension when unused); refuses unless the
                       last --verify passed and nothing changed since
  --rollback           re-create the pgvector column and copy every vector back from Qdrant

options:
  --reembed-missing    (migrate) embed the rows whose vector is null or of the wrong dimension
  --table NAME         source table (default ${DEFAULT_TABLE}; --cutover and --rollback need the default)
  --column NAME        pgvector column (default ${DEFAULT_COLUMN})
  --batch-size N       rows per Postgres page (default ${DEFAULT_BATCH_SIZE})
  --upsert-batch-size N  points per Qdrant upsert (default ${DEFAULT_UPSERT_BATCH_SIZE})
  --sample N           (verify) rows whose neighbours are compared (default 50)
  --min-recall X       (verify) required mean recall@10 (default 0.99)
  --report PATH        write the report as JSON (verify: default pgvector-verify-report.json)
  --database-url URL   override DATABASE_URL
  -h, --help           this text

exit status: 0 done, 1 failed (or verification failed), 2 bad usage, 130 interrupted (run again to resume)`;

const MODES = ["dry-run", "verify", "cutover", "rollback"] as const;
type Mode = (typeof MODES)[number] | "migrate";

class UsageError extends Error {}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "dry-run": { type: "boolean" },
      verify: { type: "boolean" },
      cutover: { type: "boolean" },
      rollback: { type: "boolean" },
      "reembed-missing": { type: "boolean" },
      table: { type: "string" },
      column: { type: "string" },
      "batch-size": { type: "string" },
      "upsert-batch-size": { type: "string" },
      sample: { type: "string" },
      "min-recall": { type: "string" },
      report: { type: "string" },
      "database-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  const modes = MODES.filter((mode) => values[mode]);
  if (modes.length > 1) {
    throw new UsageError(`choose one mode, got --${modes.join(" and --")}`);
  }
  const mode: Mode = modes.length === 0 ? "migrate" : modes[0];
  if (values["reembed-missing"] && mode !== "migrate") {
    throw new UsageError("--reembed-missing goes with a migration run, not --" + mode);
  }
  return {
    help: values.help ?? false,
    mode,
    reembedMissing: values["reembed-missing"] ?? false,
    table: values.table ?? DEFAULT_TABLE,
    column: values.column ?? DEFAULT_COLUMN,
    batchSize: integer(values["batch-size"], "--batch-size", DEFAULT_BATCH_SIZE, 1, 10_000),
    upsertBatchSize: integer(values["upsert-batch-size"], "--upsert-batch-size", DEFAULT_UPSERT_BATCH_SIZE, 1, 1_000),
    sample: integer(values.sample, "--sample", 50, 0, 100_000),
    minRecall: fraction(values["min-recall"], "--min-recall", 0.99),
    report: values.report ?? (mode === "verify" ? "pgvector-verify-report.json" : undefined),
    databaseUrl: values["database-url"],
  };
}

function integer(value: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}

function fraction(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
    throw new UsageError(`${flag} must be a number from 0 to 1, got "${value}"`);
  }
  return parsed;
}


async function main(argv: readonly string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadProcessConfig();
  const logger = pino({ level: config.logLevel, base: { component: "migrate-pgvector" } }, pino.destination(2));
  const databaseUrl = args.databaseUrl ?? config.postgres.url;
  if (databaseUrl === undefined) {
    process.stderr.write("no database configured: the vectors are in the service's database; set DATABASE_URL (or POSTGRES_HOST and friends), or pass --database-url\n");
    return 2;
  }
  const progress: ProgressReporter = process.stderr.isTTY ? createTerminalProgress(process.stderr) : createLogProgress(logger);
  const controller = new AbortController();
  const onSignal = (signal: string) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\nreceived ${signal} again: exiting now; the next run resumes from the last checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`\nreceived ${signal}: finishing the current batch, then stopping (again to exit at once)\n`);
    controller.abort();
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  const closers: Array<() => Promise<void>> = [];
  try {
    if (args.mode !== "dry-run") {
      // The service's columns (qdrant_point_id, status, ...) and the checkpoint table must exist.
      await runMigrations({ databaseUrl, logger });
    }
    const pool: DatabasePool = await createPostgresPool({ url: databaseUrl, maximumPoolSize: Math.min(config.postgres.maximumPoolSize, 4), logger });
    closers.push(() => pool.end());
    const common = { table: args.table, column: args.column, dimensions: config.embedding.dimensions };

    if (args.mode === "dry-run") {
      const report = await dryRunPgvector({ pool, logger }, common);
      await output(formatDryRun(report), report, args.report);
      return 0;
    }
    if (args.mode === "cutover") {
      const report = await cutoverPgvector({ pool, databaseUrl, logger }, common);
      await output(formatCutover(report), report, args.report);
      return 0;
    }

    const embedder = createConfiguredEmbedder(config, logger);
    const vectors = await openVectorStore(config, embedder, logger, closers);
    if (args.mode === "verify") {
      const report = await verifyPgvectorMigration(
        { pool, vectors, logger, progress },
        { ...common, sampleSize: args.sample, minRecall: args.minRecall, batchSize: Math.min(args.batchSize, 1_000) },
      );
      await output(formatVerify(report), report, args.report);
      return report.passed ? 0 : 1;
    }
    if (args.mode === "rollback") {
      const report = await rollbackPgvector({ pool, databaseUrl, logger, vectors, progress }, { ...common, batchSize: Math.min(args.batchSize, 1_000) });
      await output(formatRollback(report), report, args.report);
      return 0;
    }
    const report = await migratePgvector(
      { pool, vectors, logger, progress, embedder: args.reembedMissing ? embedder : undefined },
      { ...common, batchSize: args.batchSize, upsertBatchSize: args.upsertBatchSize, reembedMissing: args.reembedMissing, signal: controller.signal },
    );
    await output(formatMigrate(report), report, args.report);
    return report.interrupted ? 130 : 0;
  } finally {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => logger.warn({ err: error }, "closing failed"));
    }
  }
}

/** The configured Qdrant (or the embedded one on DATA_DIR), with the collection the service uses. */
async function openVectorStore(config: Config, embedder: Embedder, logger: Logger, closers: Array<() => Promise<void>>): Promise<VectorStore> {
  if (config.qdrant.host === undefined && config.dataDir === undefined) {
    throw new ConfigError("QDRANT_URL", "(or QDRANT_HOST) is required: without it the embedded Qdrant would keep the vectors in a temporary directory; set DATA_DIR to the service's to use its embedded Qdrant");
  }
  const backend: QdrantBackend = await openQdrant({ config, dataDir: config.dataDir ?? "", logger });
  closers.push(() => backend.close());
  const vectors = createConfiguredVectorStore({ config, backend, model: embedder.model, logger });
  await vectors.start();
  return vectors;
}

async function output(text: string, report: unknown, path: string | undefined): Promise<void> {
  process.stdout.write(`${text}\n`);
  if (path !== undefined) {
    await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`report written to ${path}\n`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // One line; the cause (a driver's message) helps the operator and carries no secrets.
    const cause = error instanceof DomainError && error.cause instanceof Error ? ` (${error.cause.message.split("\n")[0]})` : "";
    process.stderr.write(`migrate-pgvector failed: ${error instanceof Error ? error.message : String(error)}${error instanceof ConfigError ? "" : cause}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);
