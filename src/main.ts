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
