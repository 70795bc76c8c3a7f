// Does the plaintext protocol router (src/server/grpc-server.ts: one port for HTTP/2 and HTTP/1.1) cost
// HTTP/2 throughput? Sends large gRPC requests to the service's server and to a plain node:http2
// server with the same connect handler and windows (what the server was before), alternating rounds
// in one run, and prints MB/s and the ratio. Writes bench/results/transport-<time>.json.
//   npx tsx bench/transport/run.ts [--mib 4] [--requests 60] [--rounds 3]
import { writeFileSync, mkdirSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createGrpcServer } from "../../src/server/grpc-server.js";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "4" },
    requests: { type: "string", default: "60" },
    rounds: { type: "string", default: "3" },
  },
});
const bytes = Number(values.mib) * 1024 * 1024;
const requests = Number(values.requests);
const rounds = Number(values.rounds);

// A handler that reads the whole request (a long `service` name) and answers with a short status.
const routes = (router: ConnectRouter) =>
  router.service(Health, {
    check: (request) => ({ status: request.service.length > 0 ? 1 : 0 }),
    list: () => ({ statuses: {} }),
    watch: async function* () {},
  });
const maxMessageBytes = 64 * 1024 * 1024;

async function startRouted(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createGrpcServer({
    host: "127.0.0.1",
    port: 0,
    maxMessageBytes,
    routes,
    interceptors: [],
    logger: pino({ level: "silent" }),
  });
  const { port } = await server.start();
  return { port, close: () => server.close() };
}

async function startPlain(): Promise<{ port: number; close(): Promise<void> }> {
  const handler = connectNodeAdapter({ routes, readMaxBytes: maxMessageBytes, writeMaxBytes: maxMessageBytes });
  const server = http2.createServer(
    { settings: { initialWindowSize: 4 * 1024 * 1024, maxFrameSize: 1024 * 1024 } },
    handler,
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.once("connect", () => session.setLocalWindowSize(32 * 1024 * 1024));
    if (!session.connecting) session.setLocalWindowSize(32 * 1024 * 1024);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

async function measure(port: number): Promise<number> {
  const client = createClient(
    Health,
    createGrpcTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      readMaxBytes: maxMessageBytes,
      writeMaxBytes: maxMessageBytes,
    }),
  );
  const service = "x".repeat(bytes);
  await client.check({ service }); // warm-up: connection, JIT
  const started = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) await client.check({ service });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (bytes * requests) / seconds / 1e6;
}

const routed = await startRouted();
const plain = await startPlain();
const samples: { routed: number[]; plain: number[] } = { routed: [], plain: [] };
for (let round = 0; round < rounds; round++) {
  samples.plain.push(await measure(plain.port));
  samples.routed.push(await measure(routed.port));
}
await routed.close();
await plain.close();
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const result = {
  benchmark: "transport",
  description: `${requests} sequential unary gRPC requests of ${values.mib} MiB each over h2c, ${rounds} alternating rounds: the service's server (protocol router) vs a plain node:http2 server with the same handler and windows`,
  node: process.version,
  mbPerSecond: { routed: samples.routed.map((v) => Math.round(v)), plain: samples.plain.map((v) => Math.round(v)) },
  medianRatioRoutedToPlain: Number((median(samples.routed) / median(samples.plain)).toFixed(3)),
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(new URL("../results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL(`../results/transport-${new Date().toISOString().replace(/[:.]/g, "-")}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);
