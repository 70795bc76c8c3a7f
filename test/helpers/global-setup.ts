/**
 * vitest globalSetup of the integration project: finds the Postgres server, migrates a template database
 * once, and tells the test files about it (`inject("dqTestDatabase")`, read by test-database.ts).
 * Without a reachable server the suites run on embedded PGlite, unless REQUIRE_POSTGRES=1.
 *
 * Either way it makes sure the prepared PGlite clusters (plain and migrated) are in the cache directory
 * the service would use (CACHE_DIR, else ~/.cache/dq-embeddings; a directory of this run's own when
 * there is none), and names it to the test files (`inject("dqPgliteCache")`): each embedded Postgres a
 * test starts is then a copy of one, not an initdb of its own.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { TestProject } from "vitest/node";
import { migratedTemplate } from "../../src/backends/postgres.js";
import { loadConfig } from "../../src/config.js";
import { ensurePostgresTemplate } from "../../src/embedded/postgres.js";
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
  const results = await Promise.allSettled([preparePglite(project), findPostgres(project)]);
  const teardowns = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const teardown = async () => {
    for (const step of teardowns) await step();
  };
  const failed = results.find((result) => result.status === "rejected");
  if (failed !== undefined) {
    await teardown();
    throw failed.reason;
  }
  return teardown;
}

async function preparePglite(project: TestProject): Promise<() => Promise<void>> {
  const logger = pino({ level: "silent" });
  const configured = loadConfig(process.env).cacheDir;
  const cacheDir = configured ?? (await mkdtemp(join(tmpdir(), "dq-test-cache-")));
  // The migrated template is made from the plain one, so this makes both.
  await ensurePostgresTemplate({ cacheDir, prepareTemplate: await migratedTemplate(logger), logger });
  project.provide("dqPgliteCache", cacheDir);
  return async () => {
    if (configured === undefined) await rm(cacheDir, { recursive: true, force: true });
  };
}

async function findPostgres(project: TestProject): Promise<() => Promise<void>> {
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
