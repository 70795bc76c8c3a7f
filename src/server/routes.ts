import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Metrics } from "../metrics.js";
import { registerEmbeddingService, type EmbeddingServiceDeps } from "./embedding-service.js";
import { createErrorInterceptor } from "./errors.js";
import type { Health } from "../grpc/health.js";
import { createAdmissionInterceptor, createAuthInterceptor, createObserveInterceptor } from "./interceptors.js";
import { registerReflection } from "../grpc/reflection.js";
import { registerRetrievalService, type RetrievalServiceDeps } from "./retrieval-service.js";
import { createValidationInterceptor } from "./validation/request-rules.js";
import { withWireVectors } from "./wire/router.js";
import { file_dq_embeddings_v1_embedding_service } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { file_dq_embeddings_v1_retrieval_service } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface RoutesDeps {
  embedding: EmbeddingServiceDeps;
  retrieval: RetrievalServiceDeps;
  health: Health;
  /** Serve grpc.reflection (v1 and v1alpha) for grpcurl and buf curl. */
  reflection: boolean;
}

/** Every service the server answers: ours, health, and reflection when enabled. */
export function createRoutes(deps: RoutesDeps): (router: ConnectRouter) => void {
  return (router) => {
    // Through withWireVectors, request vectors are read from their wire bytes, never as number[]
    // (server/wire/; test/integration/splice.test.ts fails without it).
    registerEmbeddingService(withWireVectors(router), deps.embedding);
    registerRetrievalService(withWireVectors(router), deps.retrieval);
    deps.health.register(router);
    if (deps.reflection) {
      registerReflection(router, [
        file_dq_embeddings_v1_embedding_service,
        file_dq_embeddings_v1_retrieval_service,
        file_grpc_health_v1_health,
        file_grpc_reflection_v1_reflection,
        file_grpc_reflection_v1alpha_reflection,
      ]);
    }
  };
}

/**
 * The interceptor chain, outermost first: observe (logs, metrics, in-flight count), authenticate,
 * validate every request, admit expensive calls, map errors to status codes. `idle` resolves when no
 * call is in flight (stop() drains with it).
 */
export function createInterceptors(
  config: Config["grpc"],
  logger: Logger,
  metrics: Metrics,
): { interceptors: Interceptor[]; idle: () => Promise<void> } {
  const observe = createObserveInterceptor(logger, metrics);
  const interceptors: Interceptor[] = [observe.interceptor];
  const auth = createAuthInterceptor(config.apiKeys);
  if (auth !== undefined) {
    interceptors.push(auth);
    logger.info({ keys: config.apiKeys.length }, "callers must present a bearer API key");
  }
  // The same input rules for every RPC, before a bad request can take an admission slot.
  interceptors.push(createValidationInterceptor());
  interceptors.push(createAdmissionInterceptor(config.maxConcurrentExpensiveCalls));
  interceptors.push(createErrorInterceptor(logger));
  return { interceptors, idle: () => observe.inFlight.idle() };
}
