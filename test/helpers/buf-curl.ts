// Runs `buf curl` (the grpcurl that npm provides, from @bufbuild/buf) against a server under test,
// so tests call the service exactly as an engineer would from a shell.
//
//   const result = await bufCurl(`http://127.0.0.1:${port}`, { method: "grpc.health.v1.Health/Check" });
//   expect(result.exitCode).toBe(0);
//   expect(result.json).toEqual([{ status: "SERVING" }]);
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The buf binary that `npm ci` installs; never a globally installed one. */
export const BUF_BINARY = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

export interface BufCurlResult {
  /** The command line, for failure messages. */
  readonly args: readonly string[];
  /** 0 on success; below 8 for usage or connection errors; a gRPC code shifted left by 3 otherwise. */
  readonly exitCode: number;
  /** The gRPC status code when the RPC itself failed (exitCode >> 3), else undefined. */
  readonly grpcCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout's non-empty lines (the form --list-services and --list-methods print). */
  readonly lines: readonly string[];
  /** Each JSON document on stdout, in order: one per response message. */
  readonly json: readonly unknown[];
  /** The JSON error buf curl prints on stderr when the RPC fails, e.g. { code: "not_found", message }. */
  readonly error: { code: string; message?: string; details?: unknown[] } | undefined;
}

export type BufCurlTarget =
  | { readonly listServices: true }
  | { readonly listMethods: true }
  | {
      /** "package.Service/Method". */
      readonly method: string;
      /** The request message as JSON (or several, for client streams); omitted = empty message. */
      readonly data?: unknown | readonly unknown[];
    };

export interface BufCurlOptions {
  /** Default "grpc", the protocol grpcurl speaks. */
  readonly protocol?: "grpc" | "grpcweb" | "connect";
  /** Force one reflection protocol; by default buf tries v1 and falls back to v1alpha. */
  readonly reflectProtocol?: "grpc-v1" | "grpc-v1alpha";
  /** Request headers, "name: value". */
  readonly headers?: readonly string[];
  /** More flags, placed before the URL (e.g. ["--emit-defaults"] or ["--schema", "proto"]). */
  readonly extraArgs?: readonly string[];
  /** Kill buf after this long (a guard against hangs, not an assertion). Default 30 s. */
  readonly killAfterMs?: number;
  readonly cwd?: string;
}

/**
 * Calls a plaintext (h2c) server through reflection. `baseUrl` is "http://host:port" with no path.
 * Resolves with the outcome whatever the exit code; rejects only when buf cannot be run.
 */
export function bufCurl(baseUrl: string, target: BufCurlTarget, options: BufCurlOptions = {}): Promise<BufCurlResult> {
  const base = baseUrl.replace(/\/+$/, "");
  const args = ["curl", "--protocol", options.protocol ?? "grpc", "--http2-prior-knowledge"];
  if (options.reflectProtocol) args.push("--reflect-protocol", options.reflectProtocol);
  for (const header of options.headers ?? []) args.push("--header", header);
  args.push(...(options.extraArgs ?? []));
  let stdin: string | undefined;
  if ("listServices" in target) {
    args.push("--list-services", base);
  } else if ("listMethods" in target) {
    args.push("--list-methods", base);
  } else {
    if (target.data !== undefined) {
      const documents = Array.isArray(target.data) ? target.data : [target.data];
      stdin = documents.map((d) => JSON.stringify(d)).join("\n");
      args.push("--data", "@-");
    }
    args.push(`${base}/${target.method.replace(/^\/+/, "")}`);
  }
  return runBuf(args, { stdin, killAfterMs: options.killAfterMs, cwd: options.cwd });
}

/** Runs the buf binary with any arguments; the building block of bufCurl. */
export function runBuf(
  args: readonly string[],
  options: { stdin?: string; killAfterMs?: number; cwd?: string } = {},
): Promise<BufCurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUF_BINARY, args, {
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const guard = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? 30_000);
    child.on("error", (error) => {
      clearTimeout(guard);
      reject(new Error(`cannot run ${BUF_BINARY}: ${error.message}`, { cause: error }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      const out = Buffer.concat(stdout).toString("utf8");
      const err = Buffer.concat(stderr).toString("utf8");
      const exitCode = code ?? (signal ? 128 : 1);
      resolve({
        args,
        exitCode,
        grpcCode: exitCode >= 8 && exitCode < 128 ? exitCode >> 3 : undefined,
        stdout: out,
        stderr: err,
        lines: out
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l !== ""),
        json: parseJsonDocuments(out),
        error: parseError(err),
      });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/**
 * Splits concatenated JSON documents (buf curl prints one pretty-printed document per response
 * message). Text that is not JSON, such as --list-services output, yields [].
 */
export function parseJsonDocuments(text: string): unknown[] {
  const documents: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
    } else if (c === "{" || c === "[") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0 && start >= 0) {
        try {
          documents.push(JSON.parse(text.slice(start, i + 1)));
        } catch {
          return [];
        }
        start = -1;
      }
    } else if (depth === 0 && !/\s/.test(c)) {
      return [];
    }
  }
  return documents;
}

function parseError(stderr: string): BufCurlResult["error"] {
  const [first] = parseJsonDocuments(stderr.trim());
  if (first && typeof first === "object" && "code" in first && typeof first.code === "string") {
    return first as BufCurlResult["error"];
  }
  return undefined;
}
