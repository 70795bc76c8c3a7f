import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  createLogProgress,
  createTerminalProgress,
  formatBar,
  formatDuration,
  snapshot,
} from "../../../src/pgvector/progress.js";

function fakeClock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("progress", () => {
  it("computes rows/s and the ETA from what is done", () => {
    expect(snapshot(500, 2000, 1000)).toEqual({
      done: 500,
      total: 2000,
      elapsedMs: 1000,
      rowsPerSecond: 500,
      etaMs: 3000,
    });
    expect(snapshot(0, 2000, 0).etaMs).toBeUndefined();
    expect(formatDuration(3_723_000)).toBe("1:02:03");
    expect(formatDuration(65_000)).toBe("01:05");
    expect(formatDuration(undefined)).toBe("--:--");
  });

  it("draws a bar with percent, rows, rows/s and ETA", () => {
    expect(formatBar("migrating", snapshot(10_000, 20_000, 10_000), 10)).toBe(
      "migrating [#####-----]  50% 10000/20000 rows  1000 rows/s  ETA 00:10",
    );
    expect(formatBar("x", snapshot(0, 0, 0), 4)).toBe("x [####] 100% 0/0 rows  0 rows/s  ETA --:--");
  });

  it("redraws one terminal line at most every interval and ends it with a newline", () => {
    const clock = fakeClock();
    const written: string[] = [];
    const stream = { write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const progress = createTerminalProgress(stream, { clock, minIntervalMs: 100 });
    progress.start("migrating", 100);
    clock.advance(50);
    progress.update(10);
    expect(written).toHaveLength(1);
    clock.advance(50);
    progress.update(20);
    expect(written).toHaveLength(2);
    expect(written[1]).toMatch(/^\r.*20\/100 rows {2}200 rows\/s {2}ETA 00:00/);
    progress.stop();
    expect(written.at(-1)).toBe("\n");
  });

  it("writes plain log lines on an interval when there is no terminal", () => {
    const clock = fakeClock();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: "info" },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const progress = createLogProgress(logger, { clock, intervalMs: 1000 });
    progress.start("migrating", 100);
    clock.advance(500);
    progress.update(10);
    expect(lines).toHaveLength(0);
    clock.advance(500);
    progress.update(20);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ done: 20, total: 100, rowsPerSecond: 20, msg: "migrating: 20/100 rows" });
    progress.stop();
    expect(lines).toHaveLength(2);
  });
});
