import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { shadowServices, type ShadowServices } from "./shadow-services.js";

/**
 * A router that registers our services with their shadow descriptors (shadow-services.ts), so the
 * vectors of binary requests are read from the request bytes, not decoded into JS numbers. Handlers
 * are unchanged: they receive messages of the same type names and shapes and read vectors through
 * `requestVector` (request-vector.ts). Services without a shadow (health, reflection) pass through.
 */
export function withWireVectors(router: ConnectRouter, shadows: ShadowServices = shadowServices()): ConnectRouter {
  const swapService = (service: DescService): DescService => shadows.get(service.typeName) ?? service;
  const swapMethod = (method: DescMethod): DescMethod =>
    shadows.get(method.parent.typeName)?.methods.find((m) => m.name === method.name) ?? method;
  const wrapped: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      // The shadow has the same methods, local names and message shapes as `service`.
      router.service(swapService(service), implementation, options);
      return wrapped;
    },
    rpc(method, impl, options) {
      router.rpc(swapMethod(method), impl as never, options);
      return wrapped;
    },
  };
  return wrapped;
}
