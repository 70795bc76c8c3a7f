import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import {
  Code,
  ConnectError,
  createConnectRouter,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "pino";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * connect-node's request handler, with one correction: connect-es reports request bytes that do not
 * parse as the method's message (malformed protobuf, invalid UTF-8 in a string, nesting past the
 * parser's limit) as INTERNAL, which tells alerting the server is at fault. They are the caller's bad
 * input: INVALID_ARGUMENT on every protocol, as connect already answers for JSON that does not parse:
 * gRPC (the trailer status), gRPC-Web (the trailer frame at the end of the body), the Connect
 * protocol's unary calls (HTTP status and JSON error body) and its streaming calls (the end-stream
 * frame's JSON error).
 */
export function createNodeHandler(
  options: ConnectRouterOptions & { routes: (router: ConnectRouter) => void; logger: Logger },
): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter(options);
  options.routes(router);
  const paths = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (handler === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then(async (response) => universalResponseToNodeResponse(await asCallerError(response), res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) {
          options.logger.error({ err: reason, method: handler.method.name }, "writing the response failed");
        }
      });
  };
}

const PARSE_FAILURE = "parse binary";

async function asCallerError(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (response.trailer?.has("grpc-status") === true) {
    // gRPC: the status is set in the trailer while the body is read, so correct it once the body ends.
    const trailer = response.trailer;
    return { ...response, body: afterBody(response.body, () => correctGrpcTrailer(trailer)) };
  }
  const contentType = response.header?.get("content-type") ?? "";
  if (response.status === 500 && contentType.startsWith("application/json")) {
    return correctConnectUnary(response);
  }
  if (contentType.startsWith("application/grpc-web")) {
    return { ...response, body: correctEndFrame(response.body, GRPC_WEB_TRAILER, correctGrpcWebTrailer) };
  }
  if (contentType.startsWith("application/connect+")) {
    return { ...response, body: correctEndFrame(response.body, CONNECT_END_STREAM, correctConnectEndStream) };
  }
  return response;
}

/** Envelope flags (a 1-byte flag and a 4-byte big-endian length precede each frame). */
const COMPRESSED = 0x01;
const CONNECT_END_STREAM = 0x02;
const GRPC_WEB_TRAILER = 0x80;
const FRAME_HEADER = 5;

/**
 * Passes a streaming body through unchanged, except that its final frame (flagged `endFlag`, sent
 * uncompressed) is given to `correct` whole. Other frames go on chunk by chunk as they arrive.
 */
export async function* correctEndFrame(
  body: AsyncIterable<Uint8Array> | undefined,
  endFlag: number,
  correct: (payload: string) => string,
): AsyncIterable<Uint8Array> {
  if (body === undefined) return;
  let header = Buffer.alloc(0);
  let passThrough = 0; // bytes of the current ordinary frame still to forward
  let end: Buffer[] | undefined; // the end frame's bytes, once its header is seen
  let endLength = 0;
  for await (const chunk of body) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      if (end !== undefined) {
        end.push(rest);
        rest = Buffer.alloc(0);
      } else if (passThrough > 0) {
        const take = Math.min(passThrough, rest.length);
        yield rest.subarray(0, take);
        passThrough -= take;
        rest = rest.subarray(take);
      } else {
        const need = FRAME_HEADER - header.length;
        header = Buffer.concat([header, rest.subarray(0, need)]);
        rest = rest.subarray(need);
        if (header.length < FRAME_HEADER) break;
        const flags = header[0] ?? 0;
        const length = header.readUInt32BE(1);
        if ((flags & endFlag) !== 0 && (flags & COMPRESSED) === 0) {
          end = [];
          endLength = length;
        } else {
          yield header;
          passThrough = length;
        }
        header = Buffer.alloc(0);
      }
    }
  }
  if (header.length > 0) yield header;
  if (end === undefined) return;
  const payload = Buffer.concat(end);
  if (payload.length !== endLength) {
    yield Buffer.concat([frameHeader(endFlag, endLength), payload]);
    return;
  }
  const corrected = Buffer.from(correct(payload.toString("utf8")), "utf8");
  yield Buffer.concat([frameHeader(endFlag, corrected.length), corrected]);
}

function frameHeader(flags: number, length: number): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header[0] = flags;
  header.writeUInt32BE(length, 1);
  return header;
}

/** gRPC-Web trailers: `name: value` lines separated by CRLF. */
export function correctGrpcWebTrailer(text: string): string {
  const lines = text.split("\r\n");
  const value = (name: string) =>
    lines
      .find((line) => line.toLowerCase().startsWith(`${name}:`))
      ?.slice(name.length + 1)
      .trim();
  const message = value("grpc-message");
  if (value("grpc-status") !== String(Code.Internal) || message === undefined) return text;
  if (!decodeURIComponent(message).startsWith(PARSE_FAILURE)) return text;
  return lines
    .map((line) => (line.toLowerCase().startsWith("grpc-status:") ? `grpc-status: ${Code.InvalidArgument}` : line))
    .join("\r\n");
}

/** Connect end-of-stream: `{"error": {"code": ..., "message": ...}, "metadata": ...}`. */
export function correctConnectEndStream(text: string): string {
  try {
    const endStream = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const error = endStream.error;
    if (error?.code !== "internal" || typeof error.message !== "string") return text;
    if (!error.message.startsWith(PARSE_FAILURE)) return text;
    return JSON.stringify({ ...endStream, error: { ...error, code: "invalid_argument" } });
  } catch {
    return text;
  }
}

function correctGrpcTrailer(trailer: Headers): void {
  const message = trailer.get("grpc-message");
  if (
    trailer.get("grpc-status") === String(Code.Internal) &&
    message !== null &&
    decodeURIComponent(message).startsWith(PARSE_FAILURE)
  ) {
    trailer.set("grpc-status", String(Code.InvalidArgument));
  }
}

async function correctConnectUnary(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (response.body === undefined) return response;
  // The status goes out before the body, so the (small) error body is read first.
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  let corrected: UniversalServerResponse = { ...response, body: once(bytes) };
  try {
    const error = JSON.parse(bytes.toString("utf8")) as { code?: unknown; message?: unknown };
    if (error.code === "internal" && typeof error.message === "string" && error.message.startsWith(PARSE_FAILURE)) {
      const replaced = Buffer.from(JSON.stringify({ ...error, code: "invalid_argument" }));
      const header = new Headers(response.header);
      if (header.has("content-length")) header.set("content-length", String(replaced.length));
      corrected = { ...response, status: 400, header, body: once(replaced) };
    }
  } catch {
    // not a Connect error body: pass it on as it was
  }
  return corrected;
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function* afterBody(body: AsyncIterable<Uint8Array> | undefined, done: () => void): AsyncIterable<Uint8Array> {
  try {
    if (body !== undefined) yield* body;
  } finally {
    done();
  }
}
