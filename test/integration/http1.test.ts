// The plaintext port speaks HTTP/1.1 (Connect, gRPC-Web: browsers, fetch, curl) and HTTP/2 with prior
// knowledge (gRPC) at once, and the compose health check (parsed from docker-compose.yml) passes
// against a running service.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const compose = parse(readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8"));

/** Runs an argv with extra environment; resolves with the exit code. */
function run(argv: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { env: { ...process.env, ...env } }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stderr });
    });
  });
}

describe("HTTP/1.1 and HTTP/2 on the plaintext gRPC port", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("answers grpc.health.v1 Check over HTTP/1.1 with fetch (Connect protocol, JSON)", async () => {
    const response = await fetch(`${app.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "SERVING" });
  });

  it("speaks HTTP/1.1 on the wire (not an upgrade), as curl without --http2-prior-knowledge does", async () => {
    const body = await new Promise<{ version: string; text: string }>((resolve, reject) => {
      const request = http.request(
        `${app.baseUrl}/grpc.health.v1.Health/Check`,
        { method: "POST", headers: { "content-type": "application/json" } },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (text += chunk));
          response.on("end", () => resolve({ version: response.httpVersion, text }));
        },
      );
      request.on("error", reject);
      request.end("{}");
    });
    expect(body.version).toBe("1.1");
    expect(JSON.parse(body.text)).toEqual({ status: "SERVING" });
  });

  it("answers gRPC-Web and Connect over HTTP/1.1, and gRPC over HTTP/2, on the same port", async () => {
    const grpcWeb = createClient(Health, createGrpcWebTransport({ baseUrl: app.baseUrl, httpVersion: "1.1" }));
    expect((await grpcWeb.check({})).status).toBe(ServingStatus.SERVING);
    const connect = createClient(Health, createConnectTransport({ baseUrl: app.baseUrl, httpVersion: "1.1" }));
    expect((await connect.check({ service: "dq.embeddings.v1.RetrievalService" })).status).toBe(ServingStatus.SERVING);
    const grpc = createClient(Health, createGrpcTransport({ baseUrl: app.baseUrl }));
    expect((await grpc.check({})).status).toBe(ServingStatus.SERVING);
    // An unknown service is NOT_FOUND over HTTP/1.1 too (the Connect error body names the code).
    await expect(connect.check({ service: "no.such.Service" })).rejects.toMatchObject({ code: 5 });
  });

  it("keeps the large HTTP/2 flow-control windows behind the protocol router", async () => {
    const session = http2.connect(app.baseUrl);
    try {
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once("remoteSettings", resolve);
        session.once("error", reject);
      });
      // 4 MiB stream windows and 1 MiB frames (Node's defaults are 64 KiB and 16 KiB).
      expect(settings.initialWindowSize).toBe(4 * 1024 * 1024);
      expect(settings.maxFrameSize).toBe(1024 * 1024);
    } finally {
      session.close();
    }
  });

  it("runs the compose health check command exactly as docker-compose.yml writes it", async () => {
    const test = compose.services.embeddings.healthcheck.test as string[];
    expect(test[0]).toBe("CMD");
    const argv = test.slice(1);
    // Inside the container GRPC_PORT is the compose value; here it is the test app's ephemeral port.
    expect(compose.services.embeddings.environment.GRPC_PORT).toBeDefined();
    const port = String(app.running.grpcPort);
    const healthy = await run(argv, { GRPC_PORT: port });
    expect(healthy, healthy.stderr).toMatchObject({ code: 0 });
  });

  it("the compose health check fails when nothing serves the port", async () => {
    const other = await startTestApp({ database: app.database });
    const port = String(other.running.grpcPort);
    await other.stop();
    const argv = (compose.services.embeddings.healthcheck.test as string[]).slice(1);
    const result = await run(argv, { GRPC_PORT: port });
    expect(result.code).toBe(1);
  });
});
