import { sql, type CommonQueryMethods } from "slonik";
import { z } from "zod";
import { FailedPreconditionError } from "../core/errors.js";
import { query } from "./source-table.js";

/**
 * What the connected role may do to the source table and the `vector` extension, read before
 * --cutover and --rollback change anything, so they refuse with the name of the role that must run
 * them instead of failing half-way with "must be owner of extension vector".
 */
export interface Privileges {
  role: string;
  database: string;
  superuser: boolean;
  /** The table's owner, and whether `role` is (or is a member of) it: ALTER TABLE and CREATE INDEX need it. */
  tableOwner: string | null;
  ownsTable: boolean;
  /** The installed extension's owner (null when not installed): DROP EXTENSION needs it. */
  extensionOwner: string | null;
  ownsExtension: boolean;
  /** pgvector is installed on the server (CREATE EXTENSION can find it). */
  extensionAvailable: boolean;
  /** The extension is marked trusted: a role with CREATE on the database may create it. */
  extensionTrusted: boolean;
  createOnDatabase: boolean;
}

const privilegesSchema = z.object({
  role: z.string(),
  database: z.string(),
  superuser: z.boolean(),
  tableOwner: z.string().nullable(),
  ownsTable: z.boolean(),
  extensionOwner: z.string().nullable(),
  ownsExtension: z.boolean(),
  extensionAvailable: z.boolean(),
  extensionTrusted: z.boolean(),
  createOnDatabase: z.boolean(),
}) satisfies z.ZodType<Privileges>;

export async function readPrivileges(connection: CommonQueryMethods, table: string): Promise<Privileges> {
  return query("reading the role's privileges", () =>
    connection.one(sql.type(privilegesSchema)`
      SELECT
        current_user::text AS role,
        current_database()::text AS database,
        coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser,
        (SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = to_regclass(quote_ident(${table}))) AS "tableOwner",
        coalesce((SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(quote_ident(${table}))), false) AS "ownsTable",
        (SELECT pg_get_userbyid(extowner)::text FROM pg_extension WHERE extname = 'vector') AS "extensionOwner",
        coalesce((SELECT pg_has_role(current_user, extowner, 'USAGE') FROM pg_extension WHERE extname = 'vector'), false) AS "ownsExtension",
        EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS "extensionAvailable",
        coalesce((
          SELECT v.trusted FROM pg_available_extension_versions v
          JOIN pg_available_extensions e ON e.name = v.name AND e.default_version = v.version
          WHERE v.name = 'vector'
        ), false) AS "extensionTrusted",
        has_database_privilege(current_database(), 'CREATE') AS "createOnDatabase"
    `),
  );
}

/** --cutover drops the column (table owner); the extension is dropped only by its owner, else kept and reported. */
export function requireCutoverPrivileges(facts: Privileges, table: string): void {
  if (!facts.ownsTable) {
    throw new FailedPreconditionError(
      `--cutover drops a column of ${table}, which only its owner may do: run it as ${facts.tableOwner ?? "the table's owner"} (connected as ${facts.role})`,
    );
  }
}

/**
 * --rollback adds the column back and re-creates its indexes (table owner) and, when the cutover
 * dropped the extension, creates it again: a superuser for an untrusted extension (pgvector is not
 * trusted by default), or a role with CREATE on the database when it is trusted.
 */
export function requireRollbackPrivileges(facts: Privileges, table: string): void {
  if (!facts.ownsTable) {
    throw new FailedPreconditionError(
      `--rollback adds a column and indexes to ${table}, which only its owner may do: run it as ${facts.tableOwner ?? "the table's owner"} (connected as ${facts.role})`,
    );
  }
  if (facts.extensionOwner !== null) {
    return;
  }
  if (!facts.extensionAvailable) {
    throw new FailedPreconditionError(
      `--rollback needs the pgvector extension, which is not installed on this server: install pgvector for this Postgres version, then run --rollback again`,
    );
  }
  const mayCreate = facts.superuser || (facts.extensionTrusted && facts.createOnDatabase);
  if (!mayCreate) {
    throw new FailedPreconditionError(
      `--rollback must re-create the vector extension in database ${facts.database}, which needs a superuser (pgvector is not a trusted extension here): run it as a superuser (e.g. postgres), or have one run CREATE EXTENSION vector in ${facts.database} first (connected as ${facts.role})`,
    );
  }
}
