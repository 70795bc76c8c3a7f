import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Errors as Qdrant 1.19 words them. The prefixes come from `StorageError`'s Display impl
 * (lib/storage/src/content_manager/errors.rs) and the codes from `impl From<StorageError> for Status`
 * (lib/storage/src/content_manager/conversions.rs).
 */
export function notFound(description: string): ConnectError {
  return new ConnectError(`Not found: ${description}`, Code.NotFound);
}

export function collectionNotFound(name: string): ConnectError {
  return notFound(`Collection \`${name}\` doesn't exist!`);
}

export function wrongInput(description: string): ConnectError {
  return new ConnectError(`Wrong input: ${description}`, Code.InvalidArgument);
}

export function badRequest(description: string): ConnectError {
  return new ConnectError(`Bad request: ${description}`, Code.InvalidArgument);
}

/** A tonic `Status::invalid_argument` raised while converting gRPC messages (conversions.rs): no prefix. */
export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export function validationError(description: string): ConnectError {
  return new ConnectError(`Validation error in body: [${description}]`, Code.InvalidArgument);
}

export function alreadyExists(description: string): ConnectError {
  return new ConnectError(`Wrong input: ${description}`, Code.AlreadyExists);
}

export function unimplemented(feature: string): ConnectError {
  return new ConnectError(
    `${feature} is not implemented by the embedded Qdrant server; use a real Qdrant for it`,
    Code.Unimplemented,
  );
}
