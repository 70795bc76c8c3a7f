// `npm start` is what developers and simple supervisors run: SIGTERM to the npm process must reach the
// service (npm forwards it; the script execs node, so no shell sits in between and survives), the
// service drains and exits, and its port is free afterwards. Every line the service writes is JSON.
import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Resolves once a server can listen on the port again, i.e. nothing else holds it. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

describe("npm start", () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it("passes SIGTERM to the service, which drains, exits 0 and releases its port; every line is JSON", async () => {
    const child = spawn("npm", ["start", "--silent"], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        GRPC_HOST: "127.0.0.1",
        GRPC_PORT: "0",
        METRICS_HOST: "127.0.0.1",
        METRICS_PORT: "0",
        QDRANT_PORT: "0",
        LOG_LEVEL: "info",
        QDRANT_HOST: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    const port = await new Promise<number>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /"msg":"gRPC server listening on 127\.0\.0\.1:(\d+)"/.exec(output);
        if (match !== null) {
          resolve(Number(match[1]));
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      void exited.then(({ code }) => reject(new Error(`npm start exited ${code} before listening:\n${output}`)));
    });
    expect(await canListen(port)).toBe(false);

    child.kill("SIGTERM"); // to npm itself, as `kill $!` or a supervisor would
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await canListen(port)).toBe(true);

    const lines = output.split("\n").filter((line) => line.trim() !== "");
    for (const line of lines) {
      expect(() => JSON.parse(line), `not a JSON log line: ${line}`).not.toThrow();
    }
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toContain("received SIGTERM; draining in-flight calls");
    expect(messages.at(-1)).toBe("stopped");
  });
});
