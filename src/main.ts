import { createApp } from "./app.js";
import { ConfigError, loadProcessConfig } from "./config.js";

/** Load config, start the app, stop it on SIGTERM/SIGINT. Start-up failures print one line, exit 1. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadProcessConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const app = createApp(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    process.stderr.write(`received ${signal}; draining in-flight calls\n`);
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  try {
    await app.start();
  } catch (error) {
    process.stderr.write(`start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await app.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
