/**
 * Request bytes that do not parse as the method's message are the caller's fault: INVALID_ARGUMENT on
 * gRPC and on the Connect protocol, never INTERNAL (connect-es's own answer, corrected in
 * src/server/node-handler.ts). Sent raw, since no well-behaved client can produce them.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const SEARCH = "/dq.embeddings.v1.RetrievalService/SearchEmbeddings";

/** Field 1 (catalog_id) announced as 10 bytes long, with 2 present. */
const TRUNCATED = Uint8Array.from([0x0a, 0x0a, 0x61, 0x62]);
/** Field 1 (catalog_id, a string) holding bytes that are not UTF-8. */
const NOT_UTF8 = Uint8Array.from([0x0a, 0x02, 0xff, 0xfe]);

function envelope(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

async function grpcCall(
  baseUrl: string,
  message: Uint8Array,
): Promise<{ status: string | undefined; message: string }> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": SEARCH,
        "content-type": "application/grpc",
        te: "trailers",
      });
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (received) => {
        headers = received;
      });
      stream.on("trailers", (trailers) => {
        headers = { ...headers, ...trailers };
      });
      stream.on("data", () => undefined);
      stream.on("error", reject);
      stream.on("end", () =>
        resolve({
          status: headers["grpc-status"] as string | undefined,
          message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
        }),
      );
      stream.end(envelope(message));
    });
  } finally {
    session.close();
  }
}

describe("request bytes that do not parse", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.stop();
  });

  for (const [name, bytes] of [
    ["truncated", TRUNCATED],
    ["not UTF-8 in a string", NOT_UTF8],
  ] as const) {
    it(`gRPC: ${name} -> INVALID_ARGUMENT (3)`, async () => {
      const answer = await grpcCall(app.baseUrl, bytes);
      expect(answer.status).toBe("3");
      expect(answer.message).toMatch(/^parse binary/);
    });

    it(`Connect protocol: ${name} -> 400 invalid_argument`, async () => {
      const response = await fetch(`${app.baseUrl}${SEARCH}`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body: bytes,
      });
      expect(response.status).toBe(400);
      const error = (await response.json()) as { code: string; message: string };
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(/^parse binary/);
    });
  }

  it("a well-formed request on the same paths is still answered (here: its missing catalog_id named)", async () => {
    const answer = await grpcCall(app.baseUrl, new Uint8Array());
    expect(answer.status).toBe("3");
    expect(answer.message).toContain("catalog_id");
  });
});
