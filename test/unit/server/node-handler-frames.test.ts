// The end-frame correction of src/server/node-handler.ts on bodies cut at every possible place: ordinary
// frames pass through byte for byte, and only a parse failure's INTERNAL in the final frame changes.
import { describe, expect, it } from "vitest";
import { correctConnectEndStream, correctEndFrame, correctGrpcWebTrailer } from "../../../src/server/node-handler.js";

function frame(flags: number, payload: string | Buffer): Buffer {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([header, bytes]);
}

async function* chunked(body: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const PARSE_ERROR = JSON.stringify({ error: { code: "internal", message: "parse binary: premature EOF" } });
const OTHER_ERROR = JSON.stringify({ error: { code: "internal", message: "the database is on fire" } });
const MESSAGE = frame(0x00, Buffer.from([1, 2, 3, 4, 5, 6, 7]));

describe("correctEndFrame", () => {
  for (const size of [1, 2, 3, 5, 7, 1000]) {
    it(`Connect end-stream cut into ${size}-byte chunks: the parse failure becomes invalid_argument`, async () => {
      const body = Buffer.concat([MESSAGE, MESSAGE, frame(0x02, PARSE_ERROR)]);
      const out = await collect(correctEndFrame(chunked(body, size), 0x02, correctConnectEndStream));
      const expected = JSON.stringify({ error: { code: "invalid_argument", message: "parse binary: premature EOF" } });
      expect(out).toEqual(Buffer.concat([MESSAGE, MESSAGE, frame(0x02, expected)]));
    });
  }

  it("leaves any other error, and bodies without an end frame, byte for byte", async () => {
    const other = Buffer.concat([MESSAGE, frame(0x02, OTHER_ERROR)]);
    expect(await collect(correctEndFrame(chunked(other, 4), 0x02, correctConnectEndStream))).toEqual(other);
    const noEnd = Buffer.concat([MESSAGE, MESSAGE]);
    expect(await collect(correctEndFrame(chunked(noEnd, 3), 0x02, correctConnectEndStream))).toEqual(noEnd);
  });

  it("leaves a compressed end frame alone (it cannot be read without inflating)", async () => {
    const body = Buffer.concat([MESSAGE, frame(0x03, PARSE_ERROR)]);
    expect(await collect(correctEndFrame(chunked(body, 6), 0x02, correctConnectEndStream))).toEqual(body);
  });

  it("gRPC-Web trailer: grpc-status 13 for a parse failure becomes 3, other trailers stay", async () => {
    const trailer = "grpc-status: 13\r\ngrpc-message: parse%20binary%3A%20premature%20EOF\r\n";
    const body = Buffer.concat([MESSAGE, frame(0x80, trailer)]);
    const out = await collect(correctEndFrame(chunked(body, 2), 0x80, correctGrpcWebTrailer));
    expect(out).toEqual(Buffer.concat([MESSAGE, frame(0x80, trailer.replace("13", "3"))]));
    const other = "grpc-status: 13\r\ngrpc-message: boom\r\n";
    expect(correctGrpcWebTrailer(other)).toBe(other);
    expect(correctGrpcWebTrailer("grpc-status: 0\r\n")).toBe("grpc-status: 0\r\n");
  });
});
