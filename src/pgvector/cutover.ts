import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InternalError, InvalidArgumentError } from "../core/errors.js";
import type { VectorStore } from "../stores/vector-store.js";
import { classifyPostgresError, toPostgresDomainError } from "../stores/postgres-pool.js";
import { DEFAULT_COLUMN, DEFAULT_TABLE } from "./migrate.js";
import { readState } from "./migration-state.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { inspectSourceTable, NO_ROWS, query, tableIdentifier, columnIdentifier } from "./source-table.js";
import { formatPgvector } from "./vector-codec.js";

/** The cutover's own node-pg-migrate sequence: never run at start-up, only by `--cutover` / `--rollback`. */
export const CUTOVER_MIGRATIONS_TABLE = "pgmigrations_pgvector_cutover";

/** `migrations/pgvector-cutover/` from `src/pgvector/` (tsx) or `dist/src/pgvector/` (built). */
export function cutoverMigrationsDir(): string {
  const candidates = ["../../migrations/pgvector-cutover", "../../../migrations/pgvector-cutover"].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  return candidates.find((candidate) => existsSync(candidate)) ?? candidates[0];
}

export interface CutoverDeps {
  pool: DatabasePool;
  /** node-pg-migrate opens its own connection. */
  databaseUrl: string;
  logger: Logger;
}

export interface CutoverReport {
  table: string;
  column: string;
  droppedColumnType: string | null;
  extensionDropped: boolean;
}

const extensionSchema = z.object({ present: z.boolean() });

/**
 * Drops the pgvector column (and the extension when nothing else uses it) through the cutover
 * migration. Refuses unless the last verification passed and nothing changed since; the migration
 * checks that again inside its own transaction, under a table lock.
 */
export async function cutoverPgvector(deps: CutoverDeps, options: { table?: string; column?: string } = {}): Promise<CutoverReport> {
  const { pool, databaseUrl, logger } = deps;
  const table = requireServiceTable(options.table, "--cutover");
  const column = options.column ?? DEFAULT_COLUMN;
  const source = await inspectSourceTable(pool, table, column);
  if (source.vector === undefined) {
    throw new FailedPreconditionError(`${table} has no column ${column}: the cutover was already done`);
  }
  const state = await readState(pool, table);
  if (state?.verifyPassed !== true) {
    throw new FailedPreconditionError(
      state?.verifyPassed === false
        ? `the last verification of ${table} failed: fix what it reported, run --verify again, then --cutover`
        : `${table} has no passing verification since its last change: run --verify, then --cutover`,
    );
  }
  await runCutoverMigrations(databaseUrl, logger, "up");
  const extension = await query("checking the pgvector extension", () =>
    pool.one(sql.type(extensionSchema)`SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS present`),
  );
  const report: CutoverReport = { table, column, droppedColumnType: source.vector.columnType, extensionDropped: !extension.present };
  logger.info(report, "cutover done: the pgvector column is dropped; vectors live in Qdrant");
  return report;
}

export interface RollbackDeps extends CutoverDeps {
  vectors: VectorStore;
  progress?: ProgressReporter;
}

export interface RollbackReport {
  table: string;
  column: string;
  columnType: string;
  /** The column had been dropped and was re-created (with the extension if needed). */
  recreatedColumn: boolean;
  /** Indexes on the column after the rollback (those dropped with it at cutover are re-created). */
  indexes: string[];
  /** Vectors copied from Qdrant into the column. */
  restored: number;
  /** Rows with a qdrant_point_id whose point Qdrant no longer has: their column stays null. */
  missingPoints: number;
  missingPointIds: string[];
}

const idSchema = z.object({ id: z.string() });

/**
 * Undoes the migration without a backup: re-creates the pgvector column (the cutover migration's down
 * step, with the recorded type), then copies every point's vector from Qdrant back into its row and
 * clears `qdrant_point_id` (the old application does not maintain it; a later migration copies
 * everything again). Points stay in Qdrant. Resumable: rows already copied have no point id left.
 */
export async function rollbackPgvector(
  deps: RollbackDeps,
  options: { table?: string; column?: string; batchSize?: number; listLimit?: number } = {},
): Promise<RollbackReport> {
  const { pool, databaseUrl, logger, vectors } = deps;
  const progress = deps.progress ?? silentProgress;
  const table = requireServiceTable(options.table, "--rollback");
  const column = options.column ?? DEFAULT_COLUMN;
  const batchSize = options.batchSize ?? 256;
  const listLimit = options.listLimit ?? 1_000;

  let source = await inspectSourceTable(pool, table, column);
  let recreatedColumn = false;
  if (source.vector === undefined) {
    const reverted = await runCutoverMigrations(databaseUrl, logger, "down");
    if (reverted.length === 0) {
      throw new FailedPreconditionError(`${table} has no column ${column} and no cutover is recorded: nothing to roll back to`);
    }
    recreatedColumn = true;
    source = await inspectSourceTable(pool, table, column);
  }
  const vector = source.vector;
  if (vector === undefined) {
    throw new InternalError(`the rollback migration ran but ${table}.${column} is still missing`);
  }
  // The text form is pgvector's input; the cast names the column's own type, so halfvec rounds here.
  const castType = sql.identifier([vector.kind]);

  const total = await query("counting rows to restore", () =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM ${tableIdentifier(source)} WHERE qdrant_point_id IS NOT NULL
    `),
  );
  let restored = 0;
  let missingPoints = 0;
  const missingPointIds: string[] = [];
  progress.start(`restoring ${table}.${column}`, total);
  try {
    for (let afterId: string | undefined; ; ) {
      const after = afterId === undefined ? sql.fragment`TRUE` : sql.fragment`id > ${afterId}::uuid`;
      const ids = await query("reading rows to restore", () =>
        pool.anyFirst(sql.type(idSchema)`
          SELECT id FROM ${tableIdentifier(source)}
          WHERE qdrant_point_id IS NOT NULL AND ${after}
          ORDER BY id
          LIMIT ${batchSize}
        `),
      );
      if (ids.length === 0) {
        break;
      }
      afterId = ids[ids.length - 1];
      const points = await vectors.get(ids, { withVector: true });
      const found = points.filter((point) => point.vector !== undefined);
      const foundIds = new Set(found.map((point) => point.id.toLowerCase()));
      const lost = ids.filter((id) => !foundIds.has(id.toLowerCase()));
      missingPoints += lost.length;
      missingPointIds.push(...lost.slice(0, Math.max(0, listLimit - missingPointIds.length)));
      await pool.transaction(async (tx) => {
        if (found.length > 0) {
          await query("writing vectors back", () =>
            tx.query(sql.type(NO_ROWS)`
              UPDATE ${tableIdentifier(source)} AS target
              SET ${columnIdentifier(source)} = restored.value::${castType}, qdrant_point_id = NULL
              FROM unnest(
                ${sql.array(found.map((point) => point.id), "uuid")},
                ${sql.array(found.map((point) => formatPgvector(point.vector as Float32Array)), "text")}
              ) AS restored (id, value)
              WHERE target.id = restored.id
            `),
          );
        }
        if (lost.length > 0) {
          await query("clearing lost point ids", () =>
            tx.query(sql.type(NO_ROWS)`
              UPDATE ${tableIdentifier(source)} SET qdrant_point_id = NULL WHERE id = ANY(${sql.array(lost, "uuid")})
            `),
          );
        }
      });
      restored += found.length;
      progress.update(restored + missingPoints);
    }
  } finally {
    progress.stop();
  }
  // The column's indexes (HNSW, IVFFlat...) as they were at cutover, built once over the restored data.
  await query("re-creating the column's indexes", () =>
    pool.query(sql.type(NO_ROWS)`
      DO $$
      DECLARE
        definition text;
      BEGIN
        FOR definition IN
          SELECT unnest(index_definitions) FROM dq_pgvector_migration WHERE source_table = 'dq_embeddings'
        LOOP
          BEGIN
            EXECUTE definition;
          EXCEPTION WHEN duplicate_table THEN
            NULL; -- already there (a resumed rollback, or a rollback before cutover)
          END;
        END LOOP;
      END
      $$
    `),
  );
  const indexes = await query("listing the column's indexes", () =>
    pool.anyFirst(sql.type(z.object({ name: z.string() }))`
      SELECT i.indexrelid::regclass::text AS name
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
      WHERE i.indrelid = to_regclass(quote_ident(${table})) AND a.attname = ${column}
      ORDER BY 1
    `),
  );
  await query("recording the rollback", () =>
    pool.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration
      SET rolled_back_at = now(), cutover_at = NULL, verify_passed = NULL,
          pass_started_at = NULL, last_id = NULL, pass_completed_at = NULL, rows_migrated = 0, updated_at = now()
      WHERE source_table = ${table}
    `),
  );
  const report: RollbackReport = { table, column, columnType: vector.columnType, recreatedColumn, indexes: [...indexes], restored, missingPoints, missingPointIds };
  logger.info({ ...report, missingPointIds: undefined }, "rollback done: vectors are back in the pgvector column");
  if (missingPoints > 0) {
    logger.warn({ missingPoints, ids: missingPointIds }, "rows whose point was gone from Qdrant have no vector: re-index them");
  }
  return report;
}

function requireServiceTable(table: string | undefined, flag: string): string {
  const name = table ?? DEFAULT_TABLE;
  if (name !== DEFAULT_TABLE) {
    throw new InvalidArgumentError("--table", `${flag} applies to ${DEFAULT_TABLE}, the service's table (its migration names it), got "${name}"`);
  }
  return name;
}

async function runCutoverMigrations(databaseUrl: string, logger: Logger, direction: "up" | "down"): Promise<string[]> {
  try {
    const applied = await runner({
      databaseUrl,
      dir: cutoverMigrationsDir(),
      direction,
      count: direction === "up" ? Infinity : 1,
      migrationsTable: CUTOVER_MIGRATIONS_TABLE,
      checkOrder: true,
      singleTransaction: true,
      logger: {
        debug: (message) => logger.trace(message),
        info: (message) => logger.debug(message),
        warn: (message) => logger.warn(message),
        error: (message) => logger.error(message),
      },
    });
    return applied.map((migration) => migration.name);
  } catch (error) {
    if (classifyPostgresError(error).kind === "unavailable") {
      throw toPostgresDomainError(error, `cutover migration ${direction}`);
    }
    // The migration's own RAISE (no passing verification, unmigrated vectors) is the useful part.
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new FailedPreconditionError(`the cutover migration (${direction}) was refused or failed and was rolled back: ${reason}`, { cause: error });
  }
}
