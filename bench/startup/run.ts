/**
 * npm run bench:startup [-- --runs 3 --idle-seconds 10]   (about a minute)
 *
 * Runs `npm start` on embedded defaults (no DATABASE_URL, no QDRANT_HOST, no OPENAI_API_KEY: PGlite and
 * the embedded Qdrant in a temporary DATA_DIR) and measures, from spawning npm to the service's
 * "readiness: SERVING" log line, how long start-up takes, and the service process's RSS after it has
 * been idle for `idle-seconds`. Scenarios, all with a cache directory of the bench's own:
 *
 * - first:    an empty cache: the first start on a machine (or after a PGlite upgrade) runs initdb once
 *             and keeps the cluster as the template (src/embedded/postgres-template.ts);
 * - warm:     the template is there: every later start, still with a new temporary DATA_DIR;
 * - restart:  DATA_DIR set and already holding the stores of an earlier start;
 * - no-cache: CACHE_DIR=off, initdb on every start (what every start cost before the template);
 * - node, tsx: as warm, without npm: `node --eval <scripts/start.ts transpiled>` (what `npm start` runs) and
 *             `node --import tsx src/main.ts` (what it ran before), alternating with warm so all three
 *             meet the same load on this shared machine.
 *
 * Only the ports are set (GRPC_PORT, METRICS_PORT and QDRANT_PORT 0, so it runs beside other servers).
 * Phases come from the service's own log timestamps. Prints a table and writes
 * bench/results/startup-<date>.json.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { transform } from "esbuild";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "idle-seconds": { type: "string", default: "10" },
    scenarios: { type: "string", default: "first,warm,node,tsx,restart,no-cache" },
  },
});
const RUNS = Number(args.runs);
const IDLE_SECONDS = Number(args["idle-seconds"]);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Log lines whose time marks a phase of start-up, by the messages they start with. */
const MARKS = {
  firstLog: [""],
  postgresUp: ["using embedded PGlite Postgres"],
  // Migrations run (a new cluster without the template), or found current (template, restart).
  schemaReady: ["ran ", "database schema is up to date"],
  qdrantUp: ["embedded Qdrant ready"],
  vectorsBound: ["vector store BOUND"],
  serving: ["readiness: SERVING"],
} as const;
type Mark = keyof typeof MARKS;

interface Run {
  scenario: string;
  /** From spawning `npm start` to the SERVING log line. */
  servingMs: number;
  /** Each mark's log time, from spawning `npm start`. */
  marksMs: Partial<Record<Mark, number>>;
  /** How the embedded Postgres got its cluster (the service's log: existing, template, initdb). */
  cluster: string | undefined;
  /** The service (node) process after `idle-seconds` idle. */
  idleRssMiB: number;
  peakRssMiB: number;
  /** npm, the service and anything they started, summed. */
  treeRssMiB: number;
}

interface LogLine {
  time: number;
  pid: number;
  msg: string;
  cluster?: string;
}

/** The minimal environment `npm start` needs: nothing that configures the service, apart from ports. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "TERM"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0", METRICS_PORT: "0", QDRANT_PORT: "0", ...extra };
}

function status(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}

/** RSS of `root` and all its descendants, MiB. */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    try {
      total += status(pid).rss;
    } catch {
      // gone meanwhile
    }
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** The launcher as `npm start` hands it to node, transpiled once here. */
const LAUNCHER = (
  await transform(readFileSync(join(ROOT, "scripts", "start.ts"), "utf8"), {
    loader: "ts",
    format: "esm",
    platform: "node",
  })
).code;

const COMMANDS = {
  npm: ["npm", "start", "--silent"],
  node: [process.execPath, "--input-type=module", "--eval", LAUNCHER],
  tsx: [process.execPath, "--import", "tsx", "src/main.ts"],
};

async function startOnce(scenario: string, env: Record<string, string>, command = COMMANDS.npm): Promise<Run> {
  const spawnedAt = Date.now();
  const started = performance.now();
  const npm = spawn(command[0], command.slice(1), {
    cwd: ROOT,
    env: baseEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
  const lines: LogLine[] = [];
  let servingMs: number | undefined;
  let output = "";
  const serving = new Promise<void>((resolve, reject) => {
    for (const stream of [npm.stdout, npm.stderr]) {
      readline.createInterface({ input: stream }).on("line", (text) => {
        output += `${text}\n`;
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          return;
        }
        lines.push(line);
        if (line.msg === MARKS.serving[0] && servingMs === undefined) {
          servingMs = performance.now() - started;
          resolve();
        }
      });
    }
    void exited.then((code) => reject(new Error(`npm start exited ${code} before SERVING:\n${output}`)));
  });
  await serving;
  const pid = lines[0].pid;
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const { rss, hwm } = status(pid);
  const tree = treeRss(npm.pid!);
  npm.kill("SIGTERM");
  const code = await exited;
  if (code !== 0) throw new Error(`npm start exited ${code} after SIGTERM:\n${output}`);

  const marksMs: Partial<Record<Mark, number>> = {};
  for (const [mark, prefixes] of Object.entries(MARKS) as Array<[Mark, readonly string[]]>) {
    const line = lines.find((candidate) => prefixes.some((prefix) => candidate.msg.startsWith(prefix)));
    if (line !== undefined) marksMs[mark] = line.time - spawnedAt;
  }
  const cluster = lines.find((line) => line.cluster !== undefined)?.cluster;
  return {
    scenario,
    servingMs: servingMs!,
    marksMs,
    cluster,
    idleRssMiB: rss,
    peakRssMiB: hwm,
    treeRssMiB: tree,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main(): Promise<void> {
  const scenarios = args.scenarios.split(",");
  const work = mkdtempSync(join(tmpdir(), "dq-bench-startup-"));
  const cacheDir = join(work, "cache");
  const dataDir = join(work, "data");
  const loadBefore = loadavg();
  const runs: Run[] = [];
  const record = (run: Run) => {
    runs.push(run);
    console.log(
      `${run.scenario.padEnd(9)} serving ${(run.servingMs / 1000).toFixed(2)} s  cluster ${run.cluster ?? "-"}  ` +
        `idle RSS ${run.idleRssMiB.toFixed(0)} MiB (peak ${run.peakRssMiB.toFixed(0)}, npm + service ${run.treeRssMiB.toFixed(0)})  ` +
        `marks ${JSON.stringify(run.marksMs)}`,
    );
  };
  try {
    mkdirSync(cacheDir);
    // first (empty cache), then warm: the same cache, each start with its own temporary DATA_DIR.
    if (scenarios.includes("first")) record(await startOnce("first", { CACHE_DIR: cacheDir }));
    else await startOnce("prepare", { CACHE_DIR: cacheDir });
    for (let i = 0; i < RUNS; i++) {
      if (scenarios.includes("warm")) record(await startOnce("warm", { CACHE_DIR: cacheDir }));
      if (scenarios.includes("node")) record(await startOnce("node", { CACHE_DIR: cacheDir }, COMMANDS.node));
      if (scenarios.includes("tsx")) record(await startOnce("tsx", { CACHE_DIR: cacheDir }, COMMANDS.tsx));
    }
    if (scenarios.includes("restart")) {
      // One start makes DATA_DIR's stores; the measured ones find them there.
      await startOnce("prepare", { CACHE_DIR: cacheDir, DATA_DIR: dataDir });
      for (let i = 0; i < RUNS; i++) record(await startOnce("restart", { CACHE_DIR: cacheDir, DATA_DIR: dataDir }));
    }
    if (scenarios.includes("no-cache")) record(await startOnce("no-cache", { CACHE_DIR: "off" }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const summary: Record<string, { runs: number; servingMsMedian: number; idleRssMiBMedian: number }> = {};
  for (const scenario of scenarios) {
    const mine = runs.filter((run) => run.scenario === scenario);
    if (mine.length === 0) continue;
    summary[scenario] = {
      runs: mine.length,
      servingMsMedian: Math.round(median(mine.map((run) => run.servingMs))),
      idleRssMiBMedian: Math.round(median(mine.map((run) => run.idleRssMiB))),
    };
  }
  console.log(JSON.stringify(summary, null, 2));
  const date = new Date().toISOString();
  const file = join(ROOT, "bench", "results", `startup-${date.replaceAll(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: "startup",
        date,
        note: "2-core machine shared with other engineers working in parallel: absolute figures are noisy",
        node: process.version,
        cpus: cpus().length,
        loadAverage: { before: loadBefore, after: loadavg() },
        idleSeconds: IDLE_SECONDS,
        goals: { servingMs: 3000, idleRssMiB: 250 },
        summary,
        runs,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${file}`);
}

await main();
