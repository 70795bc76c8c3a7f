// The standard gRPC health service (grpc.health.v1.Health), as load balancers, Kubernetes probes
// and `grpcurl`/`buf curl` expect it: https://github.com/grpc/grpc/blob/master/doc/health-checking.md
//
// All state lives in the object createHealth() returns, so several servers can run in one process.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";

import {
  Health as HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthListResponse,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";

/** A status the application may set; SERVICE_UNKNOWN and UNKNOWN are for the protocol only. */
export type HealthStatus = "SERVING" | "NOT_SERVING";

/** The service name that stands for the whole server. */
export const SERVER_HEALTH = "";

/** List fails with RESOURCE_EXHAUSTED above this many services, as the protocol prescribes. */
export const MAX_LISTED_SERVICES = 100;

export interface HealthOptions {
  /**
   * Statuses known from the start. Defaults to `{ "": "SERVING" }`, as grpc-go and grpc-java do:
   * a server that answers health checks is serving unless told otherwise.
   */
  readonly initial?: Readonly<Record<string, HealthStatus>>;
}

export interface Health {
  /** Adds grpc.health.v1.Health (Check, List, Watch) to a router. */
  register(router: ConnectRouter): void;
  /**
   * Records a service's status ("" is the whole server) and tells every Watch of it.
   * Ignored after shutdown(), so a late set() cannot report a stopping server as SERVING.
   */
  set(service: string, status: HealthStatus): void;
  /**
   * Marks every known service NOT_SERVING, sends that to open Watch streams and then ends them.
   * Watch calls that arrive later get the current status and end at once. Idempotent.
   */
  shutdown(): void;
}

export function createHealth(options: HealthOptions = {}): Health {
  const statuses = new Map<string, ServingStatus>(
    Object.entries<HealthStatus>(options.initial ?? { [SERVER_HEALTH]: "SERVING" }).map(([service, status]) => [
      service,
      toServingStatus(status),
    ]),
  );
  let stopped = false;
  // Resolved (and replaced) on every change; Watch calls wait on it.
  let changed = createSignal();

  function announce(): void {
    const previous = changed;
    changed = createSignal();
    previous.fire();
  }

  function statusOf(service: string): ServingStatus | undefined {
    return statuses.get(service);
  }

  function check(request: HealthCheckRequest): HealthCheckResponse {
    const status = statusOf(request.service);
    if (status === undefined) {
      throw new ConnectError(
        `health: unknown service "${request.service}"; ask for "" for the whole server`,
        Code.NotFound,
      );
    }
    return create(HealthCheckResponseSchema, { status });
  }

  function list(): HealthListResponse {
    if (statuses.size > MAX_LISTED_SERVICES) {
      throw new ConnectError(
        `health: ${statuses.size} services exceed the limit of ${MAX_LISTED_SERVICES} for List; use Check per service`,
        Code.ResourceExhausted,
      );
    }
    const response = create(HealthListResponseSchema);
    for (const [service, status] of statuses) {
      response.statuses[service] = create(HealthCheckResponseSchema, { status });
    }
    return response;
  }

  async function* watch(request: HealthCheckRequest, context: HandlerContext): AsyncGenerator<HealthCheckResponse> {
    let sent: ServingStatus | undefined;
    for (;;) {
      // Take the signal before reading the status, so a change in between is not missed.
      const next = changed;
      const status = statusOf(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (status !== sent) {
        sent = status;
        yield create(HealthCheckResponseSchema, { status });
        // Anything may have happened while the message was on its way: look again.
        continue;
      }
      if (stopped || context.signal.aborted) {
        return;
      }
      await next.wait(context.signal);
    }
  }

  return {
    register(router) {
      router.service(HealthService, {
        check: (request) => check(request),
        list: () => list(),
        watch: (request, context) => watch(request, context),
      });
    },
    set(service, status) {
      if (stopped) {
        return;
      }
      const next = toServingStatus(status);
      if (statuses.get(service) === next) {
        return;
      }
      statuses.set(service, next);
      announce();
    },
    shutdown() {
      if (stopped) {
        return;
      }
      stopped = true;
      for (const service of statuses.keys()) {
        statuses.set(service, ServingStatus.NOT_SERVING);
      }
      announce();
    },
  };
}

function toServingStatus(status: HealthStatus): ServingStatus {
  switch (status) {
    case "SERVING":
      return ServingStatus.SERVING;
    case "NOT_SERVING":
      return ServingStatus.NOT_SERVING;
    default:
      throw new Error(`health: invalid status ${JSON.stringify(status)}; use "SERVING" or "NOT_SERVING"`);
  }
}

interface Signal {
  fire(): void;
  /** Resolves when fired or when `abort` aborts, whichever comes first; never rejects. */
  wait(abort: AbortSignal): Promise<void>;
}

function createSignal(): Signal {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return {
    fire,
    async wait(abort) {
      if (abort.aborted) {
        return;
      }
      let onAbort!: () => void;
      const aborted = new Promise<void>((resolve) => {
        onAbort = resolve;
        abort.addEventListener("abort", onAbort, { once: true });
      });
      try {
        await Promise.race([fired, aborted]);
      } finally {
        abort.removeEventListener("abort", onAbort);
      }
    },
  };
}
