/**
 * npx tsx bench/search/profile.ts <service.cpuprofile> [--window <search-report.json> <phase>] [--top 15]
 *
 * Where a `node --cpu-prof` profile of the service spent its time: self time of the top functions, and
 * every sample put in one group (HTTP/2 + connect, request decode, Qdrant client, Postgres, response
 * encode, logging, metrics, GC, ...) by the frames on its stack. With `--window`, only the samples of
 * one phase of a `bench:search` report (`windows`, e.g. `search-service`) count.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { window: { type: "string", multiple: true }, top: { type: "string", default: "15" } },
});
const profile = JSON.parse(readFileSync(positionals[0], "utf8")) as Profile;
let from = -Infinity;
let to = Infinity;
if (values.window !== undefined) {
  const [reportFile] = values.window;
  const phase = positionals[1];
  const report = JSON.parse(readFileSync(reportFile, "utf8")) as {
    windows: Record<string, { fromUs: number; toUs: number }>;
  };
  const window = report.windows[phase];
  if (window === undefined) throw new Error(`no window ${phase} in ${reportFile}: ${Object.keys(report.windows)}`);
  ({ fromUs: from, toUs: to } = window);
}

const parent = new Map<number, number>();
const byId = new Map<number, ProfileNode>();
for (const node of profile.nodes) {
  byId.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node.id);
}

/** The package or file a frame belongs to, short. */
function owner(frame: CallFrame): string {
  const url = frame.url;
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1];
  if (url.startsWith("node:")) return url;
  const own = /\/((?:src|gen|bench)\/.*)$/.exec(url);
  return own !== null ? own[1] : url;
}

/** The group of one sample, from its stack (leaf first). */
function group(stack: CallFrame[]): string {
  const owners = stack.map(owner);
  const names = stack.map((frame) => frame.functionName);
  const has = (test: (o: string) => boolean) => owners.some(test);
  const leaf = owners[0];
  if (leaf === "(garbage collector)") return "GC";
  if (leaf === "(idle)" || leaf === "(program)") return leaf;
  if (has((o) => o === "pino" || o === "fast-redact" || o === "sonic-boom" || o === "thread-stream"))
    return "logging (pino)";
  if (has((o) => o === "prom-client")) return "metrics (prom-client)";
  if (has((o) => o === "zod")) return "Postgres row parsing (zod)";
  if (has((o) => o === "slonik" || o.startsWith("@slonik/") || o === "pg" || o === "pg-protocol" || o === "pg-pool"))
    return "Postgres (Slonik, pg)";
  if (has((o) => o.includes("postgres-metadata-store"))) return "Postgres (Slonik, pg)";
  if (has((o) => o === "@qdrant/js-client-grpc" || o.includes("qdrant-vector-store") || o.includes("qdrant-wire")))
    return "Qdrant client (encode, call)";
  if (has((o) => o.includes("src/server/interceptors") || o.includes("request-rules") || o.includes("errors.ts")))
    return "interceptors (observe, validation, admission, errors)";
  const proto = owners.findIndex((o) => o === "@bufbuild/protobuf");
  if (proto !== -1) {
    const decode = names.some((n) => /fromBinary|readMessage|readField/.test(n));
    const encode = names.some((n) => /toBinary|writeFields|writeField/.test(n));
    if (has((o) => o.includes("src/server/") || o === "@connectrpc/connect")) {
      if (decode) return "protobuf decode (server request, or Qdrant response)";
      if (encode) return "protobuf encode (server response, or Qdrant request)";
    }
    if (names.some((n) => n === "create" || n === "initMessage")) return "protobuf create (messages built)";
    return "protobuf (other)";
  }
  if (has((o) => o.includes("src/core/") || o.includes("src/server/") || o.includes("src/embedders/")))
    return "service code (core, handlers)";
  if (
    has((o) => o === "@connectrpc/connect" || o === "@connectrpc/connect-node" || o.startsWith("node:internal/http2"))
  )
    return "HTTP/2 + connect machinery";
  if (has((o) => o.startsWith("node:internal/stream") || o.startsWith("node:internal/streams") || o === "node:net"))
    return "HTTP/2 + connect machinery";
  if (leaf === "(native)" || leaf === "(program)") return "native / unattributed";
  return `other: ${leaf}`;
}

const self = new Map<string, number>();
const groups = new Map<string, number>();
let t = profile.startTime;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  if (t < from || t > to) continue;
  const delta = profile.timeDeltas[i + 1] ?? 0;
  const stack: CallFrame[] = [];
  for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id)?.callFrame;
    if (frame !== undefined && frame.functionName !== "(root)") stack.push(frame);
  }
  if (stack.length === 0) continue;
  const leaf = stack[0];
  if (leaf.functionName === "(idle)") continue;
  total += delta;
  const key = `${leaf.functionName || "(anonymous)"}  ${owner(leaf)}:${leaf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + delta);
  const name = group(stack);
  groups.set(name, (groups.get(name) ?? 0) + delta);
}

const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`busy (non-idle) time in window: ${(total / 1000).toFixed(0)} ms`);
console.log(`\nself time, top ${values.top}:`);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(`${ms(us)} ms ${pct(us)}  ${key}`);
}
console.log("\ngroups:");
for (const [key, us] of [...groups].sort((a, b) => b[1] - a[1])) {
  console.log(`${ms(us)} ms ${pct(us)}  ${key}`);
}
