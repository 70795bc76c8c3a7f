/**
 * Milliseconds spent per phase, added up over a run: the report's "where the time goes". Phases that
 * overlap (a page read while the previous one is upserted) each count their own wall time.
 */
export interface PhaseTimer<Phase extends string> {
  readonly totals: Readonly<Record<Phase, number>>;
  /** Runs `work` and adds its duration to `phase`, whether it resolves or throws. */
  time<T>(phase: Phase, work: () => T | Promise<T>): Promise<T>;
}

export function createPhaseTimer<Phase extends string>(phases: readonly Phase[]): PhaseTimer<Phase> {
  const totals = Object.fromEntries(phases.map((phase) => [phase, 0])) as Record<Phase, number>;
  return {
    totals,
    async time(phase, work) {
      const started = performance.now();
      try {
        return await work();
      } finally {
        totals[phase] += performance.now() - started;
      }
    },
  };
}
