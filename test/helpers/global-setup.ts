/**
 * vitest globalSetup of the integration project: finds the Postgres server, migrates a template database
 * once, and tells the test files about it (`inject("dqTestDatabase")`, read by test-database.ts).
 * Without a reachable server the suites run on embedded PGlite, unless REQUIRE_POSTGRES=1.
 */
import { pino } from "pino";
import type { TestProject } from "vitest/node";
import { loadConfig } from "../../src/config.js";
import { runMigrations } from "../../src/stores/migrations.js";
import {
  createDatabase,
  databaseUrl,
  DEFAULT_TEST_DATABASE_URL,
  dropDatabase,
  probePostgres,
  randomDatabaseName,
} from "./test-database.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const adminUrl = loadConfig(process.env).postgres.url ?? DEFAULT_TEST_DATABASE_URL;
  const required = process.env.REQUIRE_POSTGRES === "1";
  const where = describeServer(adminUrl);

  try {
    await probePostgres(adminUrl);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (required) {
      throw new Error(`REQUIRE_POSTGRES=1 but Postgres at ${where} is not reachable: ${reason}`, { cause: error });
    }
    console.warn(`integration tests: no Postgres at ${where} (${reason}); the suites run on embedded PGlite`);
    project.provide("dqTestDatabase", { kind: "pglite" });
    return async () => {};
  }

  const template = randomDatabaseName("dq_test_template");
  await createDatabase(adminUrl, template, "template0");
  try {
    await runMigrations({ databaseUrl: databaseUrl(adminUrl, template), logger: pino({ level: "silent" }) });
  } catch (error) {
    await dropDatabase(adminUrl, template);
    throw error;
  }
  project.provide("dqTestDatabase", { kind: "postgres", adminUrl, template });
  return async () => {
    await dropDatabase(adminUrl, template);
  };
}

function describeServer(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === "" ? "5432" : parsed.port}`;
  } catch {
    return "the configured URL";
  }
}
