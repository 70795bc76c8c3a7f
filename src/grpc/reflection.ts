// gRPC server reflection (grpc.reflection.v1 and the older v1alpha), so `grpcurl` and `buf curl`
// can list and call our services without .proto files:
// https://github.com/grpc/grpc/blob/master/doc/server-reflection.md
//
// Everything is answered from protobuf-es descriptors: the files passed in and their imports.
import {
  type DescFile,
  type FileRegistry,
  type MessageInitShape,
  createFileRegistry,
  fromBinary,
  toBinary,
  create,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";

import {
  ServerReflection as ServerReflectionV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  type ServerReflectionRequest as ServerReflectionRequestV1alpha,
  type ServerReflectionResponse as ServerReflectionResponseV1alpha,
  ServerReflectionRequestSchema as ServerReflectionRequestV1alphaSchema,
  ServerReflectionResponseSchema as ServerReflectionResponseV1alphaSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Answers reflection requests about a fixed set of files; pure, no I/O. */
export interface ReflectionIndex {
  /** Full names of every service declared in the files given (not in their imports), sorted. */
  readonly services: readonly string[];
  /** Answers one request; unknown names give an error_response, never a thrown error. */
  answer(request: ServerReflectionRequest): ServerReflectionResponse;
}

/**
 * Serves grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection on a
 * router. `files` are the files whose services the server exposes; their imports are found
 * through each DescFile's dependencies. Pass the health and reflection files too if they should
 * be listed.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[]): void {
  const index = createReflectionIndex(files);
  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield index.answer(request);
      }
    },
  });
  // The v1alpha messages are v1's under another package: identical fields and numbers, so the
  // wire bytes of one parse as the other.
  router.service(ServerReflectionV1alpha, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield toV1alpha(index.answer(toV1(request)));
      }
    },
  });
}

/**
 * Indexes `files` and, transitively, their imports. Lists only the services of `files`; looks up
 * files and symbols in the imports too. Serialized descriptors are cached per file.
 */
export function createReflectionIndex(files: readonly DescFile[]): ReflectionIndex {
  const registry = buildRegistry(files);
  const symbols = indexSymbols(registry);
  const services = [...new Set(files.flatMap((file) => file.services.map((s) => s.typeName)))].sort();
  const encoded = new Map<string, Uint8Array>();

  function encode(file: DescFile): Uint8Array {
    let bytes = encoded.get(file.proto.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.proto.name, bytes);
    }
    return bytes;
  }

  // The file first, then everything it imports, each once: a client needs the whole closure to
  // resolve the types it was asked about.
  function withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const ordered: DescFile[] = [];
    const visit = (f: DescFile): void => {
      if (seen.has(f.proto.name)) {
        return;
      }
      seen.add(f.proto.name);
      ordered.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return ordered.map(encode);
  }

  type MessageResponse = MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"];

  function fileResponse(file: DescFile): MessageResponse {
    return {
      case: "fileDescriptorResponse",
      value: { fileDescriptorProto: withDependencies(file) },
    };
  }

  function error(code: Code, message: string): MessageResponse {
    return {
      case: "errorResponse",
      value: { errorCode: code, errorMessage: message },
    };
  }

  function respond(request: ServerReflectionRequest["messageRequest"]): MessageResponse {
    switch (request.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: {
            service: services.map((name) => ({ name })),
          },
        };
      case "fileByFilename": {
        const file = registry.getFile(request.value);
        return file ? fileResponse(file) : error(Code.NotFound, `file "${request.value}" not found`);
      }
      case "fileContainingSymbol": {
        const file = symbols.get(stripLeadingDot(request.value));
        return file ? fileResponse(file) : error(Code.NotFound, `symbol "${request.value}" not found`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = request.value;
        const extendee = registry.getMessage(stripLeadingDot(containingType));
        if (!extendee) {
          return error(Code.NotFound, `message type "${containingType}" not found`);
        }
        const extension = registry.getExtensionFor(extendee, extensionNumber);
        return extension
          ? fileResponse(extension.file)
          : error(Code.NotFound, `extension ${extensionNumber} of "${containingType}" not found`);
      }
      case "allExtensionNumbersOfType": {
        const extendee = registry.getMessage(stripLeadingDot(request.value));
        if (!extendee) {
          return error(Code.NotFound, `message type "${request.value}" not found`);
        }
        const numbers: number[] = [];
        for (const desc of registry) {
          if (desc.kind === "extension" && desc.extendee.typeName === extendee.typeName) {
            numbers.push(desc.number);
          }
        }
        return {
          case: "allExtensionNumbersResponse",
          value: {
            baseTypeName: extendee.typeName,
            extensionNumber: numbers.sort((a, b) => a - b),
          },
        };
      }
      case undefined:
        return error(
          Code.InvalidArgument,
          "request has no message_request; set one of file_by_filename, file_containing_symbol, " +
            "file_containing_extension, all_extension_numbers_of_type, list_services",
        );
    }
  }

  return {
    services,
    answer(request) {
      return create(ServerReflectionResponseSchema, {
        validHost: request.host,
        originalRequest: request,
        messageResponse: respond(request.messageRequest),
      });
    },
  };
}

/** A registry of the given files and, transitively, every file they import. */
function buildRegistry(files: readonly DescFile[]): FileRegistry {
  const byName = new Map<string, DescFile>();
  const collect = (file: DescFile): void => {
    if (!byName.has(file.proto.name)) {
      byName.set(file.proto.name, file);
      file.dependencies.forEach(collect);
    }
  };
  files.forEach(collect);
  return createFileRegistry(...files.map((file) => createFileRegistry(file.proto, (name) => byName.get(name))));
}

/**
 * Every fully-qualified name a client may ask for, mapped to the file that declares it:
 * messages (nested too), their fields and oneofs, enums and their values, extensions, services
 * and methods. Enum values live in the scope enclosing their enum, as in protoc.
 */
function indexSymbols(registry: FileRegistry): Map<string, DescFile> {
  const symbols = new Map<string, DescFile>();
  for (const file of registry.files) {
    for (const desc of nestedTypes(file)) {
      symbols.set(desc.typeName, file);
      switch (desc.kind) {
        case "message":
          for (const field of desc.fields) symbols.set(`${desc.typeName}.${field.name}`, file);
          for (const oneof of desc.oneofs) symbols.set(`${desc.typeName}.${oneof.name}`, file);
          break;
        case "enum": {
          const scope = desc.typeName.slice(0, desc.typeName.length - desc.name.length);
          for (const value of desc.values) symbols.set(`${scope}${value.name}`, file);
          break;
        }
        case "service":
          for (const method of desc.methods) symbols.set(`${desc.typeName}.${method.name}`, file);
          break;
        case "extension":
          break;
      }
    }
  }
  return symbols;
}

function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

function toV1(request: ServerReflectionRequestV1alpha): ServerReflectionRequest {
  return fromBinary(ServerReflectionRequestSchema, toBinary(ServerReflectionRequestV1alphaSchema, request));
}

function toV1alpha(response: ServerReflectionResponse): ServerReflectionResponseV1alpha {
  return fromBinary(ServerReflectionResponseV1alphaSchema, toBinary(ServerReflectionResponseSchema, response));
}
