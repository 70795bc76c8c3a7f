// grpc.health.v1.Health/Check, which Qdrant serves next to its own HealthCheck (src/tonic/mod.rs,
// "Additional health check service that follows gRPC health check protocol").
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTarget, type Target } from "./target.js";

let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target.stop());

describe("grpc.health.v1", () => {
  it("reports the server SERVING", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: target.url }));
    const whole = await health.check({ service: "" });
    expect(whole.status).toBe(ServingStatus.SERVING);
    const points = await health.check({ service: "qdrant.Points" });
    expect(points.status).toBe(ServingStatus.SERVING);
  });
});

describe("grpc.reflection.v1", () => {
  it("lists Qdrant's services so grpcurl and buf curl need no proto files", async () => {
    const { ServerReflection } = await import("../../gen/grpc/reflection/v1/reflection_pb.js");
    const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: target.url }));
    async function* one() {
      yield { host: "", messageRequest: { case: "listServices" as const, value: "" } };
    }
    const names: string[] = [];
    for await (const response of reflection.serverReflectionInfo(one())) {
      if (response.messageResponse.case === "listServicesResponse") {
        names.push(...response.messageResponse.value.service.map((s) => s.name));
      }
    }
    expect(names).toEqual(
      expect.arrayContaining(["qdrant.Qdrant", "qdrant.Collections", "qdrant.Points", "grpc.health.v1.Health"]),
    );
  });
});
