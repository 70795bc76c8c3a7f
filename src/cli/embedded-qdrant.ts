#!/usr/bin/env node
// The embedded Qdrant server as its own process: `embedded-qdrant --port 6334 --http-port 6333 --data-dir ./qdrant-data`.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { createEmbeddedQdrant } from "../embedded/qdrant/index.js";

const HELP = `Usage: embedded-qdrant [options]

An in-process server that speaks Qdrant's gRPC API (1.19), for development and tests, and
answers Qdrant's REST verification calls (GET /, /collections, /collections/{name}, /aliases,
/healthz, /readyz, /livez, /metrics) on its HTTP port.

Options:
  --host <host>        address to listen on (default 127.0.0.1)
  --port <port>        gRPC port, 0 for any free port (default 6334)
  --http-port <port>   REST port, 0 for any free port (default: 6333 when --port is 6334,
                       like Qdrant; otherwise any free port, so test servers never collide)
  --data-dir <dir>     keep data in this directory (append-only log + snapshots);
                       without it, data lives in memory only
  --api-key <key>      require this key in the api-key header (like Qdrant's service.api_key)
  --compact-at-mib <n> compact the log into a snapshot past this many MiB (default 256)
  --log-level <level>  pino level: fatal, error, warn, info, debug (default info)
  -h, --help           show this help
`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "6334" },
        "http-port": { type: "string" },
        "data-dir": { type: "string" },
        "api-key": { type: "string" },
        "compact-at-mib": { type: "string" },
        "log-level": { type: "string", default: "info" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`embedded-qdrant: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`embedded-qdrant: --port must be an integer from 0 to 65535, got "${values.port}"\n`);
    process.exit(2);
  }
  const httpPort = values["http-port"] === undefined ? (port === 6334 ? 6333 : 0) : Number(values["http-port"]);
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) {
    process.stderr.write(
      `embedded-qdrant: --http-port must be an integer from 0 to 65535, got "${values["http-port"]}"\n`,
    );
    process.exit(2);
  }
  const compactAtMib = values["compact-at-mib"] === undefined ? undefined : Number(values["compact-at-mib"]);
  if (compactAtMib !== undefined && !(Number.isInteger(compactAtMib) && compactAtMib > 0)) {
    process.stderr.write(
      `embedded-qdrant: --compact-at-mib must be a whole number above 0, got "${values["compact-at-mib"]}"\n`,
    );
    process.exit(2);
  }
  const logger = pino({ level: values["log-level"], base: { service: "embedded-qdrant" } });
  const server = createEmbeddedQdrant({
    host: values.host,
    port,
    httpPort,
    dataDir: values["data-dir"],
    apiKey: values["api-key"],
    compactAtBytes: compactAtMib === undefined ? undefined : compactAtMib * 1024 * 1024,
    logger,
  });
  await server.start(); // logs the "ready" lines with host, ports and urls

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`embedded-qdrant: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
