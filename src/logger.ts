import { pino, type Logger } from "pino";
import type { Config } from "./config.js";

/** Keys that never reach a log line, wherever they sit one level down. */
const REDACT = ["*.apiKey", "*.password", "*.url"];

/** The service's logger: one JSON object per line on stdout, secrets redacted. */
export function createLogger(level: Config["logLevel"]): Logger {
  return pino({ level, redact: REDACT });
}
