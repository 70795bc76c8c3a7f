/**
 * `npm run reembed -- --model M --dimensions D [--batch-size N] [--build-only] [--replace-collection]`:
 * re-embeds every row in Postgres with model M into a new Qdrant collection `<alias>__M__D` while the
 * service keeps serving, then points the alias QDRANT_COLLECTION_NAME at it (backends/reembed.ts).
 * Reads the service's configuration (DATABASE_URL / POSTGRES_*, QDRANT_*, OPENAI_API_KEY). Stopped and
 * run again, it resumes: rows already in the new collection are not embedded twice.
 */
import { parseArgs } from "node:util";
import { pino } from "pino";
import { runReembed, ReembedUsageError } from "../backends/reembed.js";
import { ConfigError, loadProcessConfig, processEnv } from "../config.js";
import { DomainError } from "../core/errors.js";

const USAGE =
  "usage: npm run reembed -- --model <embedding model> --dimensions <n> [--batch-size 256] [--build-only] [--replace-collection]";

async function main(argv: readonly string[]): Promise<number> {
  const log = pino({ level: processEnv().LOG_LEVEL ?? "info", base: { component: "reembed" } });
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: "string" },
        dimensions: { type: "string" },
        "batch-size": { type: "string", default: "256" },
        "build-only": { type: "boolean", default: false },
        "replace-collection": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    log.fatal(`${(error as Error).message}; ${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dimensions = Number(values.dimensions);
  const batchSize = Number(values["batch-size"]);
  if (values.model === undefined || values.model.trim() === "") {
    log.fatal(`--model is required; ${USAGE}`);
    return 2;
  }
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 65_536) {
    log.fatal(`--dimensions must be a whole number from 1 to 65536, got "${values.dimensions ?? ""}"`);
    return 2;
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    log.fatal(`--batch-size must be a whole number from 1 to 10000, got "${values["batch-size"]}"`);
    return 2;
  }
  let config;
  try {
    config = loadProcessConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal({ variable: error.variable }, error.message);
      return 2;
    }
    throw error;
  }
  const logger = pino({
    level: config.logLevel,
    base: { component: "reembed" },
    redact: ["*.apiKey", "*.password", "*.url"],
  });
  try {
    await runReembed({
      config,
      model: values.model.trim(),
      dimensions,
      batchSize,
      buildOnly: values["build-only"],
      replaceCollection: values["replace-collection"],
      logger,
    });
    return 0;
  } catch (error) {
    if (error instanceof ReembedUsageError) {
      logger.fatal(error.message);
      return 2;
    }
    const cause = error instanceof DomainError && error.cause instanceof Error ? ` (${error.cause.message})` : "";
    logger.fatal(
      { err: error },
      `reembed failed: ${error instanceof Error ? error.message : String(error)}${cause}; run it again to resume`,
    );
    return 1;
  }
}

// Exit explicitly: the Qdrant client has no close() and would keep its HTTP/2 connection open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 60, msg: `reembed failed: ${error instanceof Error ? error.message : String(error)}` })}\n`,
    );
    process.exit(1);
  },
);
