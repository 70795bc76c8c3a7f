import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import type { Health, HealthStatus } from "../grpc/health.js";

export interface ReadinessOptions {
  health: Health;
  /** The health names to set: the whole server ("") and each service. */
  services: readonly string[];
  /** Each dependency's check, by the name `dq_dependency_up` gives it: resolves when it answers. */
  dependencies: Readonly<Record<string, () => Promise<void>>>;
  metrics: Metrics;
  logger: Logger;
  intervalMs: number;
}

export interface Readiness {
  /** Checks every dependency once: SERVING when all answer, else NOT_SERVING. */
  check(): Promise<void>;
  /** Checks again every `intervalMs` until `stop()`. */
  start(): void;
  stop(): void;
}

/** Readiness: NOT_SERVING while a dependency (Postgres, Qdrant) does not answer, SERVING when all do. */
export function createReadiness(options: ReadinessOptions): Readiness {
  const { health, services, dependencies, metrics, logger, intervalMs } = options;
  let status: HealthStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function check(): Promise<void> {
    const names = Object.keys(dependencies);
    const up = await Promise.all(
      names.map((name) =>
        dependencies[name]().then(
          () => true,
          () => false,
        ),
      ),
    );
    names.forEach((name, index) => metrics.dependencyUp.set({ dependency: name }, up[index] ? 1 : 0));
    const next: HealthStatus = up.every(Boolean) ? "SERVING" : "NOT_SERVING";
    if (next !== status) {
      const fields = Object.fromEntries(names.map((name, index) => [name, up[index]]));
      if (next === "SERVING") logger.info(fields, `readiness: ${next}`);
      else logger.warn(fields, `readiness: ${next}`);
      status = next;
    }
    for (const service of services) {
      health.set(service, next);
    }
  }

  const schedule = () => {
    timer = setTimeout(() => {
      void check().then(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
  };

  return {
    check,
    start: schedule,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
