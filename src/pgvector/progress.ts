import type { Logger } from "pino";

/**
 * How a long pass tells the operator where it is. `createTerminalProgress` draws a bar with rows/s and
 * ETA on a TTY; `createLogProgress` writes a plain log line every few seconds (pipes, CI, files).
 */
export interface ProgressReporter {
  /** `total` may be 0 (nothing to do). */
  start(label: string, total: number): void;
  /** `done` is cumulative. */
  update(done: number): void;
  stop(): void;
}

export const silentProgress: ProgressReporter = {
  start() {},
  update() {},
  stop() {},
};

export interface ProgressSnapshot {
  done: number;
  total: number;
  elapsedMs: number;
  rowsPerSecond: number;
  /** Undefined until the rate is known. */
  etaMs: number | undefined;
}

export function snapshot(done: number, total: number, elapsedMs: number): ProgressSnapshot {
  const rowsPerSecond = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const remaining = Math.max(0, total - done);
  return {
    done,
    total,
    elapsedMs,
    rowsPerSecond,
    etaMs: rowsPerSecond > 0 ? (remaining / rowsPerSecond) * 1000 : undefined,
  };
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) {
    return "--:--";
  }
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** One line of the bar, e.g. `migrating [#####-----]  50% 10000/20000 rows  812 rows/s  ETA 00:12`. */
export function formatBar(label: string, state: ProgressSnapshot, width = 30): string {
  const fraction = state.total > 0 ? Math.min(1, state.done / state.total) : 1;
  const filled = Math.round(fraction * width);
  const percent = `${Math.floor(fraction * 100)}`.padStart(3);
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${percent}% ${state.done}/${state.total} rows  ${Math.round(state.rowsPerSecond)} rows/s  ETA ${formatDuration(state.etaMs)}`;
}

interface Clock {
  now(): number;
}

export function createTerminalProgress(
  stream: NodeJS.WriteStream,
  options: { clock?: Clock; minIntervalMs?: number } = {},
): ProgressReporter {
  const clock = options.clock ?? performance;
  const minInterval = options.minIntervalMs ?? 100;
  let label = "";
  let total = 0;
  let started = 0;
  let lastDraw = -Infinity;
  let lastDone = 0;
  const draw = (done: number) => {
    stream.write(`\r${formatBar(label, snapshot(done, total, clock.now() - started))}\x1b[K`);
  };
  return {
    start(nextLabel, nextTotal) {
      label = nextLabel;
      total = nextTotal;
      started = clock.now();
      lastDone = 0;
      draw(0);
      lastDraw = started;
    },
    update(done) {
      lastDone = done;
      const now = clock.now();
      if (now - lastDraw >= minInterval) {
        lastDraw = now;
        draw(done);
      }
    },
    stop() {
      draw(lastDone);
      stream.write("\n");
    },
  };
}

export function createLogProgress(
  logger: Logger,
  options: { clock?: Clock; intervalMs?: number } = {},
): ProgressReporter {
  const clock = options.clock ?? performance;
  const interval = options.intervalMs ?? 5_000;
  let label = "";
  let total = 0;
  let started = 0;
  let lastLog = 0;
  let lastDone = 0;
  const log = (done: number) => {
    const state = snapshot(done, total, clock.now() - started);
    logger.info(
      { done, total, rowsPerSecond: Math.round(state.rowsPerSecond), eta: formatDuration(state.etaMs) },
      `${label}: ${done}/${total} rows`,
    );
  };
  return {
    start(nextLabel, nextTotal) {
      label = nextLabel;
      total = nextTotal;
      started = clock.now();
      lastLog = started;
      lastDone = 0;
    },
    update(done) {
      lastDone = done;
      const now = clock.now();
      if (now - lastLog >= interval) {
        lastLog = now;
        log(done);
      }
    },
    stop() {
      log(lastDone);
    },
  };
}
