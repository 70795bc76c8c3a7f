import { setFlagsFromString } from "node:v8";
import { pino } from "pino";
import { createApp } from "./app.js";
import { ConfigError, loadProcessConfig } from "./config.js";
import { createLogger } from "./logger.js";

/**
 * Load config, start the app, stop it on SIGTERM/SIGINT. Every line written is a JSON log line (pino),
 * start-up failures included: one line, then exit 2 (configuration) or 1 (anything else).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadProcessConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      // No configured logger yet: the one line goes to stderr, synchronously, before exiting.
      pino(pino.destination({ dest: 2, sync: true })).fatal({ variable: error.variable }, error.message);
      process.exit(2);
    }
    throw error;
  }
  if (config.postgres.url === undefined) {
    // The embedded Postgres is 9 MB of WebAssembly. V8's optimizing tier recompiles its hot functions
    // while Postgres boots, a second core busy for ~1 s, and the compiler's freed zones stay with the
    // allocator: ~50 MB of an idle service. Baseline code alone boots sooner and runs its queries about
    // 1.3x slower (bench/startup). It must be set before the first module is compiled, hence here; the
    // embedded Qdrant's SIMD kernels run as fast either way.
    setFlagsFromString("--liftoff-only");
  }
  const logger = createLogger(config.logLevel);
  const app = createApp(config, { logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs: config.grpc.shutdownGraceMs }, `received ${signal}; draining in-flight calls`);
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  try {
    await app.start();
  } catch (error) {
    logger.fatal({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
    await app.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
