/**
 * The `migrate-pgvector` command as a function: parses arguments, reads the configuration from the
 * given environment, builds the parts and prints what happened to the given streams. The bin
 * (`src/cli/migrate-pgvector.ts`) wires it to the process; tests call it in-process.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import type { DatabasePool } from "slonik";
import { createConfiguredEmbedder } from "../backends/embedder.js";
import { createConfiguredVectorStore, openQdrant, type QdrantBackend } from "../backends/qdrant.js";
import { ConfigError, loadConfig, type Config } from "../config.js";
import { DomainError, FailedPreconditionError } from "../core/errors.js";
import { normalizePostgresUrl, PostgresUrlError } from "../postgres-url.js";
import { runMigrations } from "../stores/migrations.js";
import { createPostgresPool } from "../stores/postgres-pool.js";
import type { VectorStore } from "../stores/vector-store.js";
import { cutoverPgvector } from "./cutover.js";
import { rollbackPgvector } from "./rollback.js";
import { dryRunPgvector } from "./dry-run.js";
import { DEFAULT_BATCH_SIZE, DEFAULT_UPSERT_BATCH_SIZE, migratePgvector } from "./migrate.js";
import { createLogProgress, createTerminalProgress, type ProgressReporter } from "./progress.js";
import { formatCutover, formatDryRun, formatMigrate, formatRollback, formatVerify } from "./report-text.js";
import { prepareOldSchema } from "./schema-phase.js";
import { collectionModel, reembedModelMessage } from "./source-model.js";
import { DEFAULT_COLUMN, DEFAULT_TABLE, inspectSourceTable, requireMigratable } from "./source-table.js";
import { verifyPgvectorMigration } from "./verify.js";

const USAGE = `usage: npm run migrate-pgvector -- [mode] [options]

Moves the vectors of dq_embeddings' pgvector column into Qdrant without re-embedding them.
Postgres, Qdrant and OpenAI come from the service's configuration (DATABASE_URL or POSTGRES_*,
QDRANT_URL or QDRANT_HOST/QDRANT_GRPC_PORT, QDRANT_COLLECTION_NAME, EMBEDDING_DIMENSIONS, OPENAI_API_KEY).

modes (one at most; none = migrate):
  (none)               prepare an old table in batches (progress; Ctrl-C stops at the next batch),
                       run the schema migration, then copy every usable vector into Qdrant, recording
                       progress in dq_pgvector_moved; resumes an interrupted run where it stopped.
                       qdrant_point_id is written in one statement at the end, or by --cutover when
                       an index uses the pgvector column
  --dry-run            count rows, dimensions and null vectors and say what would happen; writes nothing
  --verify             compare Qdrant with pgvector (counts per catalog, a point per row, payloads,
                       vectors, recall@10 of a sample); prints the report and writes it as JSON
  --cutover            drop the pgvector column and its indexes, write qdrant_point_id, drop the
                       extension when unused and owned by this role; refuses unless the last --verify
                       passed and nothing changed since. Needs the owner of dq_embeddings
  --rollback           re-create the pgvector column, copy every vector back from Qdrant (NULL where
                       the source had none), re-create every index that used it. Needs the owner of
                       dq_embeddings, and a superuser when the extension must be created again

options:
  --reembed-missing    (migrate) embed the rows whose vector is null or of the wrong dimension, with
                       the collection's model only (OPENAI_API_KEY and EMBEDDING_MODEL must name it)
  --skip-missing       (migrate) exclude those rows instead, listed in the report: no point, and
                       --verify and --cutover go ahead without them
  --table NAME         source table (default ${DEFAULT_TABLE}; --cutover and --rollback need the default)
  --column NAME        pgvector column (default ${DEFAULT_COLUMN})
  --batch-size N       rows per Postgres page (default ${DEFAULT_BATCH_SIZE})
  --schema-batch-size N  rows per batch of the schema phase (default 1000)
  --upsert-batch-size N  points per Qdrant upsert (default ${DEFAULT_UPSERT_BATCH_SIZE})
  --sample N           (verify) rows whose neighbours are compared (default 50)
  --min-recall X       (verify) required mean recall@10 (default 0.99)
  --report PATH        write the report as JSON (verify: default pgvector-verify-report.json)
  --database-url URL   override DATABASE_URL
  -h, --help           this text

exit status: 0 done, 1 failed (or verification failed), 2 bad usage, 130 interrupted (run again to resume)`;

const MODE_FLAGS = ["dry-run", "verify", "cutover", "rollback"] as const;
type Mode = (typeof MODE_FLAGS)[number] | "migrate";

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
      "skip-missing": { type: "boolean" },
      "schema-batch-size": { type: "string" },
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
  const modes = MODE_FLAGS.filter((mode) => values[mode]);
  if (modes.length > 1) {
    throw new UsageError(`choose one mode, got --${modes.join(" and --")}`);
  }
  const mode: Mode = modes.length === 0 ? "migrate" : modes[0];
  for (const flag of ["reembed-missing", "skip-missing"] as const) {
    if (values[flag] && mode !== "migrate") {
      throw new UsageError(`--${flag} goes with a migration run, not --${mode}`);
    }
  }
  if (values["reembed-missing"] && values["skip-missing"]) {
    throw new UsageError("choose --reembed-missing or --skip-missing, not both");
  }
  let databaseUrl: string | undefined;
  if (values["database-url"] !== undefined) {
    try {
      databaseUrl = normalizePostgresUrl(values["database-url"]);
    } catch (error) {
      throw new UsageError(
        `--database-url ${error instanceof PostgresUrlError ? error.message : "is not a valid URL"}`,
      );
    }
  }
  return {
    help: values.help ?? false,
    mode,
    reembedMissing: values["reembed-missing"] ?? false,
    skipMissing: values["skip-missing"] ?? false,
    schemaBatchSize: integer(values["schema-batch-size"], "--schema-batch-size", 1_000, 1, 100_000),
    table: values.table ?? DEFAULT_TABLE,
    column: values.column ?? DEFAULT_COLUMN,
    batchSize: integer(values["batch-size"], "--batch-size", DEFAULT_BATCH_SIZE, 1, 10_000),
    upsertBatchSize: integer(values["upsert-batch-size"], "--upsert-batch-size", DEFAULT_UPSERT_BATCH_SIZE, 1, 1_000),
    sample: integer(values.sample, "--sample", 50, 0, 100_000),
    minRecall: fraction(values["min-recall"], "--min-recall", 0.99),
    report: values.report,
    databaseUrl,
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

export interface CommandIo {
  /** The environment the configuration is read from (the process's, for the bin). */
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborted by SIGINT/SIGTERM: the run stops at the next batch boundary. */
  signal?: AbortSignal;
}

/** Runs the command; resolves to its exit status (0 done, 1 failed, 2 usage, 130 interrupted). */
export async function runMigratePgvectorCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    // One line; the cause (a driver's message) helps the operator and carries no secrets.
    const cause =
      error instanceof DomainError && error.cause instanceof Error ? ` (${error.cause.message.split("\n")[0]})` : "";
    io.stderr.write(
      `migrate-pgvector failed: ${error instanceof Error ? error.message : String(error)}${error instanceof ConfigError ? "" : cause}\n`,
    );
    return error instanceof ConfigError ? 2 : 1;
  }
}

async function run(argv: readonly string[], io: CommandIo): Promise<number> {
  let args: Args;
  try {
    args = parse(argv);
  } catch (error) {
    io.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig(io.env);
  const logger = pino({ level: config.logLevel, base: { component: "migrate-pgvector" } }, io.stderr);
  const databaseUrl = args.databaseUrl ?? config.postgres.url;
  if (databaseUrl === undefined) {
    io.stderr.write(
      "no database configured: the vectors are in the service's database; set DATABASE_URL (or POSTGRES_HOST and friends), or pass --database-url\n",
    );
    return 2;
  }
  const progress: ProgressReporter = io.stderr.isTTY
    ? createTerminalProgress(io.stderr as NodeJS.WriteStream)
    : createLogProgress(logger);
  const closers: Array<() => Promise<void>> = [];
  try {
    const pool: DatabasePool = await createPostgresPool({
      url: databaseUrl,
      maximumPoolSize: Math.min(config.postgres.maximumPoolSize, 4),
      logger,
    });
    closers.push(() => pool.end());
    const context: ModeContext = { args, io, config, logger, databaseUrl, pool, progress, closers };
    if (args.mode !== "dry-run" && !(await prepareSchema(context))) {
      return 130;
    }
    return await MODES[args.mode](context);
  } finally {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => logger.warn({ err: error }, "closing failed"));
    }
  }
}

type Args = ReturnType<typeof parse>;

/** What every mode works with; `closers` are run, last first, when the command ends. */
interface ModeContext {
  args: Args;
  io: CommandIo;
  config: Config;
  logger: Logger;
  databaseUrl: string;
  pool: DatabasePool;
  progress: ProgressReporter;
  closers: Array<() => Promise<void>>;
}

/** Each mode: its report printed (and written to --report), its exit code. */
const MODES: Record<Mode, (context: ModeContext) => Promise<number>> = {
  "dry-run": async (context) => {
    const report = await dryRunPgvector({ pool: context.pool, logger: context.logger }, source(context));
    await output(context, formatDryRun(report), report, context.args.report);
    return 0;
  },
  cutover: async (context) => {
    const { pool, databaseUrl, logger } = context;
    const report = await cutoverPgvector({ pool, databaseUrl, logger }, source(context));
    await output(context, formatCutover(report), report, context.args.report);
    return 0;
  },
  rollback: async (context) => {
    const { args, config, pool, databaseUrl, logger, progress } = context;
    // Rollback reads points back: the collection's model is whatever it recorded; no check to make.
    const model = await modelOfRows(pool, args.table, args.column, true);
    const vectors = await openVectorStore(config, model, logger, context.closers);
    const report = await rollbackPgvector(
      { pool, databaseUrl, logger, vectors, progress },
      { ...source(context), batchSize: Math.min(args.batchSize, 1_000) },
    );
    await output(context, formatRollback(report), report, args.report);
    return 0;
  },
  verify: async (context) => {
    const { args, pool, logger, progress } = context;
    const { model, vectors } = await openCollection(context);
    const report = await verifyPgvectorMigration(
      { pool, vectors, logger, progress },
      {
        ...source(context),
        model,
        sampleSize: args.sample,
        minRecall: args.minRecall,
        batchSize: Math.min(args.batchSize, 1_000),
      },
    );
    await output(context, formatVerify(report), report, args.report ?? "pgvector-verify-report.json");
    return report.passed ? 0 : 1;
  },
  migrate: async (context) => {
    const { args, config, pool, logger, progress } = context;
    const embedder = args.reembedMissing ? await createConfiguredEmbedder(config, logger) : undefined;
    const { model, vectors } = await openCollection(context, embedder?.model);
    const report = await migratePgvector(
      { pool, vectors, logger, progress, embedder },
      {
        ...source(context),
        model,
        batchSize: args.batchSize,
        upsertBatchSize: args.upsertBatchSize,
        reembedMissing: args.reembedMissing,
        skipMissing: args.skipMissing,
        signal: context.io.signal,
      },
    );
    await output(context, formatMigrate(report), report, args.report);
    return report.interrupted ? 130 : 0;
  },
};

function source(context: ModeContext) {
  return { table: context.args.table, column: context.args.column, dimensions: context.config.embedding.dimensions };
}

/**
 * An old table is prepared in batches first (progress, interruptible), so the service's migration that
 * follows finds nothing expensive left; then its columns and the side tables. False when interrupted.
 */
async function prepareSchema(context: ModeContext): Promise<boolean> {
  const { args, io, pool, logger, progress, databaseUrl } = context;
  if (args.table === DEFAULT_TABLE) {
    const schema = await prepareOldSchema(
      { pool, logger, progress },
      { batchSize: args.schemaBatchSize, signal: io.signal },
    );
    if (schema.interrupted) {
      io.stdout.write(
        `INTERRUPTED in the schema phase after ${schema.rowsWritten} row(s) in ${schema.batches} batch(es): run the same command again to resume\n`,
      );
      return false;
    }
    if (schema.needed) {
      io.stdout.write(
        `schema phase: ${schema.rowsWritten} row(s) prepared in ${schema.batches} batch(es)${schema.convertedMetadata ? ", metadata is jsonb" : ""}, ${Math.round(schema.elapsedMs)} ms\n`,
      );
    }
  }
  await runMigrations({ databaseUrl, logger });
  return true;
}

/**
 * One collection, one model: the model the rows record made the vectors being carried over (and the
 * embedder of --reembed-missing must be it). The store on that model's collection.
 */
async function openCollection(
  context: ModeContext,
  embedderModel?: string,
): Promise<{ model: string; vectors: VectorStore }> {
  const { args, config, pool, logger } = context;
  const model = await modelOfRows(pool, args.table, args.column, false);
  if (embedderModel !== undefined && embedderModel !== model) {
    throw new FailedPreconditionError(reembedModelMessage(model, embedderModel));
  }
  return { model, vectors: await openVectorStore(config, model, logger, context.closers) };
}

async function output(context: ModeContext, text: string, report: unknown, path: string | undefined): Promise<void> {
  context.io.stdout.write(`${text}\n`);
  if (path !== undefined) {
    await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
    context.io.stdout.write(`report written to ${path}\n`);
  }
}

/** The model the source rows record (after cutover the column is gone, but the rows still say). */
async function modelOfRows(pool: DatabasePool, table: string, column: string, allowCutOver: boolean): Promise<string> {
  const source = await inspectSourceTable(pool, table, column);
  if (!allowCutOver) {
    requireMigratable(source);
  }
  return collectionModel(pool, source);
}

/** The configured Qdrant (or the embedded one on DATA_DIR), with the collection the service uses. */
async function openVectorStore(
  config: Config,
  model: string,
  logger: Logger,
  closers: Array<() => Promise<void>>,
): Promise<VectorStore> {
  if (config.qdrant.host === undefined && config.dataDir === undefined) {
    throw new ConfigError(
      "QDRANT_URL",
      "(or QDRANT_HOST) is required: without it the embedded Qdrant would keep the vectors in a temporary directory; set DATA_DIR to the service's to use its embedded Qdrant",
    );
  }
  const backend: QdrantBackend = await openQdrant({ config, dataDir: config.dataDir ?? "", logger });
  closers.push(() => backend.close());
  // Created with the rows' model, or refused at start() when the collection records another.
  const vectors = createConfiguredVectorStore({ config, backend, model, logger });
  await vectors.start();
  return vectors;
}
