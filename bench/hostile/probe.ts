/**
 * The health prober of bench:hostile, as its own process so the load generator's work (building
 * megabytes of hostile text) never delays a probe: calls grpc.health.v1 Check on its own HTTP/2
 * connection every `interval` ms and prints one JSON line per answer, `{ "at": epoch ms, "ms": latency }`.
 *
 * tsx bench/hostile/probe.ts <base url> <interval ms>
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";

const [baseUrl, interval = "20"] = process.argv.slice(2);
const health = createClient(Health, createGrpcTransport({ baseUrl }));
console.log(JSON.stringify({ msg: "probing" }));
for (;;) {
  const started = performance.now();
  try {
    await health.check({ service: "" }, { timeoutMs: 120_000 });
    console.log(JSON.stringify({ at: Date.now(), ms: performance.now() - started }));
  } catch (error) {
    console.log(JSON.stringify({ at: Date.now(), ms: performance.now() - started, error: String(error) }));
  }
  await new Promise((resolve) => setTimeout(resolve, Number(interval)));
}
