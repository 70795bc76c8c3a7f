import type { DescMessage, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { unimplemented } from "./errors.js";

/** One unary RPC implementation, typed by the request and response schemas the client package exports. */
export interface UnaryHandler {
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly impl: (request: never, context: HandlerContext) => Promise<unknown>;
}

export function unary<I extends DescMessage, O extends DescMessage>(
  input: I,
  output: O,
  impl: (request: MessageShape<I>, context: HandlerContext) => Promise<MessageInitShape<O>>,
): UnaryHandler {
  return { input, output, impl: impl };
}

/**
 * Registers every method of `service`: the given handlers (checked against the descriptor's types at
 * start), and for the rest an UNIMPLEMENTED answer naming the RPC.
 */
export function registerService(
  router: ConnectRouter,
  service: DescService,
  handlers: Record<string, UnaryHandler>,
): void {
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (handler === undefined) {
      router.rpc(method, (() => {
        throw unimplemented(`${service.typeName}/${method.name}`);
      }) as never);
      continue;
    }
    if (
      method.methodKind !== "unary" ||
      method.input.typeName !== handler.input.typeName ||
      method.output.typeName !== handler.output.typeName
    ) {
      throw new Error(`handler for ${service.typeName}/${method.name} does not match its descriptor`);
    }
    // A handler may decode through a shadow of the request schema (same type name, see wire-vectors.ts).
    const served = handler.input === method.input ? method : { ...method, input: handler.input };
    router.rpc(served as DescMethodUnary, handler.impl as never);
  }
  for (const name of Object.keys(handlers)) {
    if (!service.methods.some((m) => m.localName === name))
      throw new Error(`${service.typeName} has no method ${name}`);
  }
}

/** Seconds since `start`, as Qdrant's `time` fields report. */
export function elapsed(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
