import * as grpc from "@grpc/grpc-js";
import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
  create,
} from "@bufbuild/protobuf";

/**
 * Unary calls through @grpc/grpc-js, the reference gRPC implementation for Node, with protobuf-es doing
 * the (de)serialization: proves the service interoperates with a client that is not connect's.
 */
export function createGrpcJsClient(address: string, options: { metadata?: Record<string, string> } = {}) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      input: MessageInitShape<I>,
    ): Promise<MessageShape<O>> {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(options.metadata ?? {})) {
        metadata.set(key, value);
      }
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          `/${method.parent.typeName}/${method.name}`,
          (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          create(method.input, input),
          metadata,
          (error, response) => (error ? reject(error) : resolve(response as MessageShape<O>)),
        );
      });
    },
    close() {
      client.close();
    },
  };
}
