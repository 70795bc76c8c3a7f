import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import readline from "node:readline";

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** User + system CPU seconds of a process so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** User and system (kernel: sockets, page faults) CPU seconds of a process so far. */
export function cpuSplitSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** CPU seconds per thread name (main "node", V8 GC helpers, libuv pool...), summed over threads. */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim().replace(/\d+$/, "");
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Peak resident set of a process, MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** This process's own CPU seconds. */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script>` (node itself, so the pid is the one doing the work) and resolves
 * once a JSON log line satisfies `ready`.
 */
/**
 * Node flags for a benchmark's child from the environment variable `name`, space-separated: e.g.
 * BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (node refuses --cpu-prof in NODE_OPTIONS).
 */
export function nodeArgsFromEnv(name: string): string[] {
  return process.env[name]?.split(" ").filter((arg) => arg !== "") ?? [];
}

export async function startNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (entry: Record<string, unknown>) => boolean,
  nodeArgs: string[] = [],
): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  if (process.env.BENCH_CHILD_STDOUT !== undefined) {
    child.stdout?.on("data", (chunk: Buffer) => process.stderr.write(chunk));
  }
  await new Promise<void>((resolve, reject) => {
    const exited = (code: number | null) =>
      reject(new Error(`${script} exited with ${code}: ${stderr.join("").slice(-2000)}`));
    child.once("exit", exited);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (ready(entry)) {
          child.off("exit", exited);
          // Later lines (one per RPC) are drained unread: parsing them would charge the benchmark's
          // own process for the child's logging.
          lines.close();
          child.stdout?.resume();
          resolve();
        }
      } catch {
        // not a log line
      }
    });
  });
  return {
    pid: child.pid as number,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
