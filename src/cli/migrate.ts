/**
 * `npm run migrate [-- up|down] [--count N] [--database-url URL]`: applies (or reverts) the SQL
 * migrations in `migrations/`. The database comes from `--database-url`, else from the configuration
 * (DATABASE_URL or POSTGRES_HOST/PORT/DB/USER/PASSWORD).
 */
import { parseArgs } from "node:util";
import { pino } from "pino";
import { loadProcessConfig } from "../config.js";
import { DomainError } from "../core/errors.js";
import { runMigrations } from "../stores/migrations.js";

const USAGE = "usage: npm run migrate -- [up|down] [--count N] [--database-url postgres://user:password@host:port/db]";

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "database-url": { type: "string" },
      count: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const direction = positionals[0] ?? "up";
  if ((direction !== "up" && direction !== "down") || positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1) {
      console.error(`--count must be a whole number of at least 1, got "${values.count}"`);
      return 2;
    }
  }

  const config = loadProcessConfig();
  const databaseUrl = values["database-url"] ?? config.postgres.url;
  if (databaseUrl === undefined) {
    console.error("no database configured: set DATABASE_URL (or POSTGRES_HOST and friends), or pass --database-url");
    return 2;
  }
  const logger = pino({ level: config.logLevel, base: { component: "migrate" } });
  await runMigrations({ databaseUrl, logger, direction, count });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // One line; the cause (the driver's message) helps the operator and carries no secrets.
    const cause = error instanceof DomainError && error.cause instanceof Error ? ` (${error.cause.message})` : "";
    console.error(`migrate failed: ${error instanceof Error ? error.message : String(error)}${cause}`);
    process.exitCode = 1;
  },
);
