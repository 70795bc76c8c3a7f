import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";

import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { createHealth, type HealthOptions } from "../../../src/grpc/health.js";

// The service runs behind connect's in-memory transport: the real router and serialization, no
// sockets.
// (Cancellation is tested over a real socket in test/integration/health-reflection.test.ts: the
// in-memory transport stops pulling a cancelled stream without ending its handler.)
function setup(options?: HealthOptions) {
  const health = createHealth(options);
  const transport = createRouterTransport((router) => health.register(router));
  return { health, client: createClient(Health, transport) };
}

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("health Check", () => {
  it("reports the whole server as SERVING by default", async () => {
    const { client } = setup();
    const response = await client.check({ service: "" });
    expect(response.status).toBe(ServingStatus.SERVING);
  });

  it("fails with NOT_FOUND for a service it has never heard of", async () => {
    const { client } = setup();
    await expect(codeOf(client.check({ service: "dq.embeddings.v1.Nope" }))).resolves.toBe(Code.NotFound);
  });

  it("reports what set() recorded", async () => {
    const { health, client } = setup();
    health.set("dq.embeddings.v1.EmbeddingService", "NOT_SERVING");
    expect((await client.check({ service: "dq.embeddings.v1.EmbeddingService" })).status).toBe(
      ServingStatus.NOT_SERVING,
    );
    health.set("dq.embeddings.v1.EmbeddingService", "SERVING");
    expect((await client.check({ service: "dq.embeddings.v1.EmbeddingService" })).status).toBe(ServingStatus.SERVING);
  });

  it("starts from the statuses it is given, and only those", async () => {
    const { client } = setup({ initial: { "": "NOT_SERVING", a: "SERVING" } });
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await client.check({ service: "a" })).status).toBe(ServingStatus.SERVING);
    await expect(codeOf(client.check({ service: "b" }))).resolves.toBe(Code.NotFound);
  });

  it("rejects a status outside the two an application may set", () => {
    const health = createHealth();
    expect(() => health.set("", "SERVICE_UNKNOWN" as never)).toThrow(/invalid status/);
  });
});

describe("health List", () => {
  it("returns every known service with its status", async () => {
    const { health, client } = setup();
    health.set("a", "NOT_SERVING");
    const response = await client.list({});
    expect(Object.fromEntries(Object.entries(response.statuses).map(([k, v]) => [k, v.status]))).toEqual({
      "": ServingStatus.SERVING,
      a: ServingStatus.NOT_SERVING,
    });
  });

  it("fails with RESOURCE_EXHAUSTED above 100 services", async () => {
    const { health, client } = setup();
    for (let i = 0; i < 100; i++) health.set(`s${i}`, "SERVING");
    await expect(codeOf(client.list({}))).resolves.toBe(Code.ResourceExhausted);
  });
});

describe("health Watch", () => {
  it("sends the current status at once and every change after it, without repeats", async () => {
    const { health, client } = setup();
    const stream = client.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);

    health.set("", "NOT_SERVING");
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);

    // Setting the same status again is not a change; the next message is the following change.
    health.set("", "NOT_SERVING");
    health.set("", "SERVING");
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    await stream.return?.();
  });

  it("reports an unknown service as SERVICE_UNKNOWN and keeps watching until it is known", async () => {
    const { health, client } = setup();
    const stream = client.watch({ service: "later" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);

    health.set("later", "SERVING");
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    await stream.return?.();
  });

  it("ignores changes to other services", async () => {
    const { health, client } = setup();
    const stream = client.watch({ service: "mine" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);

    health.set("other", "NOT_SERVING");
    health.set("", "NOT_SERVING");
    health.set("mine", "NOT_SERVING");
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    await stream.return?.();
  });
});

describe("health shutdown", () => {
  it("sends NOT_SERVING to open watches and ends them", async () => {
    const { health, client } = setup();
    const received: ServingStatus[] = [];
    const watching = (async () => {
      for await (const response of client.watch({ service: "" })) {
        received.push(response.status);
        if (received.length === 1) health.shutdown();
      }
    })();
    await watching;
    expect(received).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });

  it("marks every service NOT_SERVING and ignores later set() calls", async () => {
    const { health, client } = setup({ initial: { "": "SERVING", a: "SERVING" } });
    health.shutdown();
    health.set("a", "SERVING");
    health.set("b", "SERVING");
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await client.check({ service: "a" })).status).toBe(ServingStatus.NOT_SERVING);
    await expect(codeOf(client.check({ service: "b" }))).resolves.toBe(Code.NotFound);
  });

  it("answers a Watch that arrives after shutdown with the current status, then ends it", async () => {
    const { health, client } = setup();
    health.shutdown();
    health.shutdown();
    const received: ServingStatus[] = [];
    for await (const response of client.watch({ service: "" })) received.push(response.status);
    expect(received).toEqual([ServingStatus.NOT_SERVING]);
  });

  it("keeps state per instance", async () => {
    const first = setup();
    const second = setup();
    first.health.set("", "NOT_SERVING");
    expect((await second.client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });
});
