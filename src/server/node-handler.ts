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
 * input: INVALID_ARGUMENT, on gRPC (the trailer status) and on the Connect protocol's unary calls
 * (status and JSON error body), as connect already answers for JSON that does not parse.
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
  if (response.status === 500 && response.header?.get("content-type")?.startsWith("application/json") === true) {
    return correctConnectUnary(response);
  }
  return response;
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
