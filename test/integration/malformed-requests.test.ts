/**
 * Request bytes that do not parse as the method's message are the caller's fault: INVALID_ARGUMENT on
 * gRPC and on the Connect protocol, never INTERNAL (connect-es's own answer, corrected in
 * src/server/node-handler.ts). Sent raw, since no well-behaved client can produce them.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const SEARCH = "/dq.embeddings.v1.RetrievalService/SearchEmbeddings";
const STREAM_UPSERT = "/dq.embeddings.v1.EmbeddingService/StreamUpsertEmbeddings";

/** Field 1 (catalog_id) announced as 10 bytes long, with 2 present. */
const TRUNCATED = Uint8Array.from([0x0a, 0x0a, 0x61, 0x62]);
/** Field 1 (catalog_id, a string) holding bytes that are not UTF-8. */
const NOT_UTF8 = Uint8Array.from([0x0a, 0x02, 0xff, 0xfe]);

/** The same two faults one level down, in a stream message's first embedding (field 2). */
const STREAM_TRUNCATED = Uint8Array.from([0x12, 0x0a, 0x61, 0x62]);
const STREAM_NOT_UTF8 = Uint8Array.from([0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe]);

/** Splits an enveloped body into frames: flags and payload. */
function frames(body: Buffer): Array<{ flags: number; payload: Buffer }> {
  const out: Array<{ flags: number; payload: Buffer }> = [];
  for (let at = 0; at + 5 <= body.length;) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body[at] ?? 0, payload: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

function envelope(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

async function http2Post(
  baseUrl: string,
  path: string,
  headers: http2.OutgoingHttpHeaders,
  message: Uint8Array,
): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": path, ...headers });
      let received: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (response) => {
        received = response;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("end", () => resolve({ headers: received, body: Buffer.concat(chunks) }));
      stream.end(envelope(message));
    });
  } finally {
    session.close();
  }
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

  for (const [name, bytes] of [
    ["truncated", TRUNCATED],
    ["not UTF-8 in a string", NOT_UTF8],
  ] as const) {
    it(`gRPC-Web: ${name} -> grpc-status 3 in the trailer frame`, async () => {
      const response = await fetch(`${app.baseUrl}${SEARCH}`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: envelope(bytes),
      });
      expect(response.status).toBe(200);
      const body = Buffer.from(await response.arrayBuffer());
      // Trailers-only answers carry the status in the headers; otherwise it is the 0x80 frame's.
      const trailer = frames(body)
        .find((frame) => (frame.flags & 0x80) !== 0)
        ?.payload.toString("utf8");
      const status = response.headers.get("grpc-status") ?? /grpc-status:\s*(\d+)/i.exec(trailer ?? "")?.[1];
      const message = response.headers.get("grpc-message") ?? /grpc-message:\s*([^\r\n]*)/i.exec(trailer ?? "")?.[1];
      expect(status).toBe("3");
      expect(decodeURIComponent(message ?? "")).toMatch(/^parse binary/);
    });
  }

  for (const [name, bytes] of [
    ["truncated", STREAM_TRUNCATED],
    ["not UTF-8 in a string", STREAM_NOT_UTF8],
  ] as const) {
    it(`Connect streaming: ${name} -> end-stream error invalid_argument, nothing acknowledged`, async () => {
      // Bidirectional Connect streams need HTTP/2.
      const answer = await http2Post(
        app.baseUrl,
        STREAM_UPSERT,
        { "content-type": "application/connect+proto" },
        bytes,
      );
      expect(answer.headers[":status"]).toBe(200);
      const all = frames(answer.body);
      expect(all.filter((frame) => (frame.flags & 0x02) === 0)).toEqual([]);
      const end = all.find((frame) => (frame.flags & 0x02) !== 0);
      const endStream = JSON.parse(end?.payload.toString("utf8") ?? "{}") as {
        error?: { code?: string; message?: string };
      };
      expect(endStream.error?.code).toBe("invalid_argument");
      expect(endStream.error?.message).toMatch(/^parse binary/);
    });
  }

  it("a well-formed request on the same paths is still answered (here: its missing catalog_id named)", async () => {
    const answer = await grpcCall(app.baseUrl, new Uint8Array());
    expect(answer.status).toBe("3");
    expect(answer.message).toContain("catalog_id");
  });
});
