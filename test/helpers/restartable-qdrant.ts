import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The embedded Qdrant on a fixed port and data directory, so a test can stop it (a dependency going
 * away) and start it again where the app expects it, with every acknowledged write recovered.
 */
export async function createRestartableQdrant() {
  const dataDir = await mkdtemp(join(tmpdir(), "dq-qdrant-"));
  const port = await freePort();
  let current: EmbeddedQdrant | undefined;
  return {
    port,
    /** Environment that points an app at this server. */
    env: { QDRANT_HOST: "127.0.0.1", QDRANT_GRPC_PORT: String(port), QDRANT_TIMEOUT_MS: "3000" },
    async start() {
      current = createEmbeddedQdrant({ host: "127.0.0.1", port, dataDir, logger: pino({ level: "silent" }) });
      await current.start();
    },
    async stop() {
      await current?.stop();
      current = undefined;
    },
    async dispose() {
      await current?.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
