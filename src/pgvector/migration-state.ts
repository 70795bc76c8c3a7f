import { sql, type CommonQueryMethods, type SerializableValue } from "slonik";
import { z } from "zod";
import { NO_ROWS, query } from "./source-table.js";

/**
 * `dq_pgvector_migration` (created by migrations/1764060000000_pgvector-migration-state.sql): one row
 * per source table holding the checkpoint of the current pass, the last verification and the cutover
 * record. Passing the transaction connection makes a checkpoint commit with the batch it follows.
 */
export interface MigrationState {
  sourceTable: string;
  sourceColumn: string;
  columnType: string | null;
  passStartedAt: number | null;
  lastId: string | null;
  passCompletedAt: number | null;
  rowsMigrated: number;
  verifyPassed: boolean | null;
  verifiedAt: number | null;
  cutoverAt: number | null;
  rolledBackAt: number | null;
}

const stateSchema = z.object({
  sourceTable: z.string(),
  sourceColumn: z.string(),
  columnType: z.string().nullable(),
  passStartedAt: z.number().nullable(),
  lastId: z.string().nullable(),
  passCompletedAt: z.number().nullable(),
  rowsMigrated: z.number(),
  verifyPassed: z.boolean().nullable(),
  verifiedAt: z.number().nullable(),
  cutoverAt: z.number().nullable(),
  rolledBackAt: z.number().nullable(),
}) satisfies z.ZodType<MigrationState>;

const stateColumns = sql.fragment`
  source_table AS "sourceTable",
  source_column AS "sourceColumn",
  column_type AS "columnType",
  pass_started_at AS "passStartedAt",
  last_id AS "lastId",
  pass_completed_at AS "passCompletedAt",
  rows_migrated AS "rowsMigrated",
  verify_passed AS "verifyPassed",
  verified_at AS "verifiedAt",
  cutover_at AS "cutoverAt",
  rolled_back_at AS "rolledBackAt"
`;

export async function readState(connection: CommonQueryMethods, table: string): Promise<MigrationState | null> {
  return query("reading the migration checkpoint", () =>
    connection.maybeOne(
      sql.type(stateSchema)`SELECT ${stateColumns} FROM dq_pgvector_migration WHERE source_table = ${table}`,
    ),
  );
}

/** Starts a new pass (forgetting the previous checkpoint) and resolves to its state. */
export async function startPass(
  connection: CommonQueryMethods,
  table: string,
  column: string,
  columnType: string,
): Promise<MigrationState> {
  return query("starting a migration pass", () =>
    connection.one(sql.type(stateSchema)`
      INSERT INTO dq_pgvector_migration AS state (source_table, source_column, column_type, pass_started_at, last_id, pass_completed_at, rows_migrated)
      VALUES (${table}, ${column}, ${columnType}, now(), NULL, NULL, 0)
      ON CONFLICT (source_table) DO UPDATE SET
        source_column = excluded.source_column,
        column_type = excluded.column_type,
        pass_started_at = now(),
        last_id = NULL,
        pass_completed_at = NULL,
        rows_migrated = 0,
        updated_at = now()
      RETURNING ${stateColumns}
    `),
  );
}

/**
 * Moves the checkpoint past a batch; call it in the transaction that writes the batch back. Writing
 * points invalidates the last verification, so a no-op run keeps it and --cutover still works.
 */
export async function recordBatch(
  connection: CommonQueryMethods,
  table: string,
  lastId: string,
  migrated: number,
): Promise<void> {
  await query("writing the migration checkpoint", () =>
    connection.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration
      SET last_id = ${lastId}::uuid,
          rows_migrated = rows_migrated + ${migrated},
          -- Points written since the last verification make it stale; a batch that wrote none does not.
          verify_passed = CASE WHEN ${migrated} > 0 THEN NULL ELSE verify_passed END,
          updated_at = now()
      WHERE source_table = ${table}
    `),
  );
}

/** Any change to the vectors after a verification makes that verification stale. */
export async function invalidateVerify(connection: CommonQueryMethods, table: string): Promise<void> {
  await query("writing the migration state", () =>
    connection.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration SET verify_passed = NULL, updated_at = now() WHERE source_table = ${table}
    `),
  );
}

export async function completePass(connection: CommonQueryMethods, table: string): Promise<void> {
  await query("writing the migration checkpoint", () =>
    connection.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration
      SET pass_completed_at = now(), updated_at = now()
      WHERE source_table = ${table}
    `),
  );
}

export async function recordVerify(
  connection: CommonQueryMethods,
  table: string,
  column: string,
  passed: boolean,
  report: SerializableValue,
): Promise<void> {
  await query("recording the verification", () =>
    connection.query(sql.type(NO_ROWS)`
      INSERT INTO dq_pgvector_migration AS state (source_table, source_column, verify_passed, verified_at, verify_report)
      VALUES (${table}, ${column}, ${passed}, now(), ${sql.jsonb(report)})
      ON CONFLICT (source_table) DO UPDATE SET
        verify_passed = excluded.verify_passed,
        verified_at = excluded.verified_at,
        verify_report = excluded.verify_report,
        updated_at = now()
    `),
  );
}
