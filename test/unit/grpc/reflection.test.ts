import { type DescFile, type MessageInitShape, create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_descriptor,
  file_google_protobuf_timestamp,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";

import { file_grpc_health_v1_health } from "../../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  type ServerReflectionResponse,
  ServerReflectionRequestSchema,
  file_grpc_reflection_v1_reflection,
} from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  file_grpc_reflection_v1alpha_reflection,
} from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createReflectionIndex, registerReflection } from "../../../src/grpc/reflection.js";

// A file with every kind of symbol reflection must find: nested messages and enums, a oneof,
// enum values (scoped beside their enum, as protoc scopes them), an extension, a service, a method,
// and imports of its own.
const fixture = buildFile(
  {
    name: "acme/fixture/v1/fixture.proto",
    package: "acme.fixture.v1",
    syntax: "proto3",
    dependency: ["google/protobuf/descriptor.proto", "google/protobuf/timestamp.proto"],
    messageType: [
      {
        name: "Outer",
        field: [
          field("when", 1, Type.MESSAGE, ".google.protobuf.Timestamp"),
          { ...field("text", 2, Type.STRING), oneofIndex: 0 },
          field("inner", 3, Type.MESSAGE, ".acme.fixture.v1.Outer.Inner"),
          field("color", 4, Type.ENUM, ".acme.fixture.v1.Outer.Color"),
        ],
        oneofDecl: [{ name: "choice" }],
        nestedType: [{ name: "Inner", field: [field("depth", 1, Type.INT32)] }],
        enumType: [
          {
            name: "Color",
            value: [
              { name: "COLOR_UNSPECIFIED", number: 0 },
              { name: "COLOR_RED", number: 1 },
            ],
          },
        ],
      },
    ],
    enumType: [{ name: "Level", value: [{ name: "LEVEL_UNSPECIFIED", number: 0 }] }],
    extension: [
      { ...field("sensitive", 50001, Type.BOOL), extendee: ".google.protobuf.FieldOptions" },
      { ...field("owner", 50002, Type.STRING), extendee: ".google.protobuf.FieldOptions" },
    ],
    service: [
      {
        name: "FixtureService",
        method: [{ name: "Get", inputType: ".acme.fixture.v1.Outer", outputType: ".acme.fixture.v1.Outer" }],
      },
    ],
  },
  [file_google_protobuf_descriptor, file_google_protobuf_timestamp],
);

// Imports the fixture, so asking for it must bring the fixture's own imports too.
const dependent = buildFile(
  {
    name: "acme/fixture/v1/dependent.proto",
    package: "acme.fixture.v1",
    syntax: "proto3",
    dependency: ["acme/fixture/v1/fixture.proto"],
    messageType: [{ name: "Wrapper", field: [field("outer", 1, Type.MESSAGE, ".acme.fixture.v1.Outer")] }],
  },
  [fixture],
);

const index = createReflectionIndex([dependent, fixture, file_grpc_health_v1_health]);

type MessageRequest = MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"];

function ask(messageRequest: MessageRequest, host = "") {
  return index.answer(create(ServerReflectionRequestSchema, { host, messageRequest }));
}

function fileNames(response: ServerReflectionResponse): string[] {
  expect(response.messageResponse.case).toBe("fileDescriptorResponse");
  if (response.messageResponse.case !== "fileDescriptorResponse") return [];
  return response.messageResponse.value.fileDescriptorProto.map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

function errorOf(response: ServerReflectionResponse) {
  expect(response.messageResponse.case).toBe("errorResponse");
  return response.messageResponse.case === "errorResponse" ? response.messageResponse.value : undefined;
}

describe("reflection list_services", () => {
  it("lists the services declared in the given files, sorted, and echoes the request", () => {
    const response = ask({ case: "listServices", value: "*" }, "example.test:443");
    expect(response.messageResponse.case).toBe("listServicesResponse");
    if (response.messageResponse.case !== "listServicesResponse") return;
    expect(response.messageResponse.value.service.map((s) => s.name)).toEqual([
      "acme.fixture.v1.FixtureService",
      "grpc.health.v1.Health",
    ]);
    expect(response.validHost).toBe("example.test:443");
    expect(response.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
    expect(index.services).toEqual(["acme.fixture.v1.FixtureService", "grpc.health.v1.Health"]);
  });

  it("lists reflection itself only when its files are passed", () => {
    const withReflection = createReflectionIndex([
      file_grpc_reflection_v1_reflection,
      file_grpc_reflection_v1alpha_reflection,
    ]);
    expect(withReflection.services).toEqual([
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });
});

describe("reflection file_by_filename", () => {
  it("returns the file first, then its imports", () => {
    const names = fileNames(ask({ case: "fileByFilename", value: "acme/fixture/v1/fixture.proto" }));
    expect(names[0]).toBe("acme/fixture/v1/fixture.proto");
    expect(names.slice(1).sort()).toEqual(["google/protobuf/descriptor.proto", "google/protobuf/timestamp.proto"]);
  });

  it("returns the whole transitive closure, each file once, enough to rebuild every type", () => {
    const response = ask({ case: "fileByFilename", value: "acme/fixture/v1/dependent.proto" });
    const names = fileNames(response);
    expect(names[0]).toBe("acme/fixture/v1/dependent.proto");
    expect([...names].sort()).toEqual([
      "acme/fixture/v1/dependent.proto",
      "acme/fixture/v1/fixture.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/timestamp.proto",
    ]);
    // What a client such as grpcurl does with the answer: build a registry from the bytes alone.
    if (response.messageResponse.case !== "fileDescriptorResponse") return;
    const set = create(FileDescriptorSetSchema, {
      file: response.messageResponse.value.fileDescriptorProto
        .map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes))
        .reverse(),
    });
    const rebuilt = createFileRegistry(set);
    expect(rebuilt.getMessage("acme.fixture.v1.Wrapper")?.fields[0].message?.typeName).toBe("acme.fixture.v1.Outer");
    expect(rebuilt.getService("acme.fixture.v1.FixtureService")?.methods[0].name).toBe("Get");
  });

  it("serves imported files too", () => {
    expect(fileNames(ask({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" }))).toEqual([
      "google/protobuf/timestamp.proto",
    ]);
  });

  it("answers NOT_FOUND for an unknown file", () => {
    const response = ask({ case: "fileByFilename", value: "acme/nope.proto" });
    expect(errorOf(response)?.errorCode).toBe(Code.NotFound);
    expect(errorOf(response)?.errorMessage).toContain("acme/nope.proto");
    expect(response.originalRequest?.messageRequest).toEqual({ case: "fileByFilename", value: "acme/nope.proto" });
  });
});

describe("reflection file_containing_symbol", () => {
  it.each([
    "acme.fixture.v1.FixtureService",
    "acme.fixture.v1.FixtureService.Get",
    "acme.fixture.v1.Outer",
    "acme.fixture.v1.Outer.Inner",
    "acme.fixture.v1.Outer.Inner.depth",
    "acme.fixture.v1.Outer.Color",
    "acme.fixture.v1.Outer.COLOR_RED",
    "acme.fixture.v1.Outer.when",
    "acme.fixture.v1.Outer.choice",
    "acme.fixture.v1.Level",
    "acme.fixture.v1.LEVEL_UNSPECIFIED",
    "acme.fixture.v1.sensitive",
    ".acme.fixture.v1.Outer",
  ])("finds %s in the fixture file, with its imports", (symbol) => {
    const names = fileNames(ask({ case: "fileContainingSymbol", value: symbol }));
    expect(names[0]).toBe("acme/fixture/v1/fixture.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
  });

  it("finds symbols of imported files", () => {
    expect(fileNames(ask({ case: "fileContainingSymbol", value: "google.protobuf.Timestamp" }))).toEqual([
      "google/protobuf/timestamp.proto",
    ]);
  });

  it.each(["acme.fixture.v1.Nope", "acme.fixture.v1.Outer.Color.COLOR_RED", "acme.fixture.v1", ""])(
    "answers NOT_FOUND for %j",
    (symbol) => {
      expect(errorOf(ask({ case: "fileContainingSymbol", value: symbol }))?.errorCode).toBe(Code.NotFound);
    },
  );
});

describe("reflection extensions", () => {
  it("finds the file defining an extension of a message type", () => {
    const names = fileNames(
      ask({
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 50002 },
      }),
    );
    expect(names[0]).toBe("acme/fixture/v1/fixture.proto");
  });

  it("answers NOT_FOUND for an unknown extension number or type", () => {
    for (const value of [
      { containingType: "google.protobuf.FieldOptions", extensionNumber: 49999 },
      { containingType: "acme.Nope", extensionNumber: 50001 },
    ]) {
      expect(errorOf(ask({ case: "fileContainingExtension", value }))?.errorCode).toBe(Code.NotFound);
    }
  });

  it("lists every known extension number of a type", () => {
    const response = ask({ case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" });
    expect(response.messageResponse.case).toBe("allExtensionNumbersResponse");
    if (response.messageResponse.case !== "allExtensionNumbersResponse") return;
    expect(response.messageResponse.value.baseTypeName).toBe("google.protobuf.FieldOptions");
    expect(response.messageResponse.value.extensionNumber).toEqual([50001, 50002]);
  });

  it("answers an empty list for a known type without extensions", () => {
    const response = ask({ case: "allExtensionNumbersOfType", value: "acme.fixture.v1.Outer" });
    expect(response.messageResponse.case).toBe("allExtensionNumbersResponse");
    if (response.messageResponse.case !== "allExtensionNumbersResponse") return;
    expect(response.messageResponse.value.extensionNumber).toEqual([]);
  });

  it("answers NOT_FOUND for an unknown type or one that is not a message", () => {
    for (const value of ["acme.Nope", "acme.fixture.v1.Level"]) {
      expect(errorOf(ask({ case: "allExtensionNumbersOfType", value }))?.errorCode).toBe(Code.NotFound);
    }
  });
});

describe("reflection requests without a question", () => {
  it("answers INVALID_ARGUMENT", () => {
    expect(errorOf(ask({ case: undefined }))?.errorCode).toBe(Code.InvalidArgument);
  });
});

describe("registerReflection", () => {
  const transport = createRouterTransport((router) =>
    registerReflection(router, [fixture, file_grpc_reflection_v1_reflection]),
  );

  it("answers each request on the v1 stream in order", async () => {
    const client = createClient(ServerReflection, transport);
    const answers = [];
    for await (const response of client.serverReflectionInfo(
      (async function* () {
        yield { host: "h", messageRequest: { case: "listServices" as const, value: "" } };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "acme.fixture.v1.Nope" } };
      })(),
    )) {
      answers.push(response);
    }
    expect(answers.map((a) => a.messageResponse.case)).toEqual(["listServicesResponse", "errorResponse"]);
    expect(answers[0].validHost).toBe("h");
  });

  it("serves the same answers on v1alpha, as v1alpha messages", async () => {
    const client = createClient(ServerReflectionV1alpha, transport);
    const answers = [];
    for await (const response of client.serverReflectionInfo(
      (async function* () {
        yield { host: "h", messageRequest: { case: "listServices" as const, value: "" } };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "acme.fixture.v1.Outer" } };
      })(),
    )) {
      answers.push(response);
    }
    expect(answers[0].$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionResponse");
    expect(answers[0].validHost).toBe("h");
    expect(answers[0].originalRequest?.messageRequest).toEqual({ case: "listServices", value: "" });
    const first = answers[0].messageResponse;
    expect(first.case === "listServicesResponse" && first.value.service.map((s) => s.name)).toEqual([
      "acme.fixture.v1.FixtureService",
      "grpc.reflection.v1.ServerReflection",
    ]);
    const second = answers[1].messageResponse;
    expect(second.case).toBe("fileDescriptorResponse");
    if (second.case !== "fileDescriptorResponse") return;
    expect(fromBinary(FileDescriptorProtoSchema, second.value.fileDescriptorProto[0]).name).toBe(
      "acme/fixture/v1/fixture.proto",
    );
  });
});

function field(name: string, number: number, type: Type, typeName?: string) {
  return { name, number, type, typeName, label: Label.OPTIONAL, jsonName: name };
}

function buildFile(proto: MessageInitShape<typeof FileDescriptorProtoSchema>, imports: readonly DescFile[]): DescFile {
  const file = create(FileDescriptorProtoSchema, proto);
  const registry = createFileRegistry(file, (name) => imports.find((f) => f.proto.name === name));
  const desc = registry.getFile(file.name);
  if (!desc) throw new Error(`fixture ${file.name} did not build`);
  return desc;
}
