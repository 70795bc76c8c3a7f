import type { MessageInitShape } from "@bufbuild/protobuf";
import type { PointStruct, PointStructSchema, SearchPoints } from "@qdrant/js-client-grpc";

/**
 * Message types of qdrant_common.proto. The client package re-exports an older `common_pb` whose
 * `Filter`/`PointId` are distinct types from the ones its points messages use, so they are derived
 * here from the messages that carry them.
 */
export type Filter = NonNullable<SearchPoints["filter"]>;
export type Condition = Filter["must"][number];
export type FieldCondition = Extract<Condition["conditionOneOf"], { case: "field" }>["value"];
export type Match = NonNullable<FieldCondition["match"]>;
export type PointId = NonNullable<PointStruct["id"]>;
export type PointIdInit = NonNullable<MessageInitShape<typeof PointStructSchema>["id"]>;
