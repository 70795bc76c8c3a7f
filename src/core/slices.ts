/**
 * Cooperative slicing of batch work on the event loop. A 1,000-item batch hashed, sparse-encoded or
 * written to a buffer in one go holds the loop for tens of milliseconds (health checks and every other
 * call wait); done a slice at a time with `setImmediate` in between, it lets them through. Small
 * batches (one slice) run without yielding at all.
 */

/** Items handled between two yields by default: well under a millisecond of work for most steps. */
export const SLICE = 64;

/** Lets pending I/O callbacks (and timers) run before continuing. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `items.map(fn)`, yielding to the event loop after every `size` items. */
export async function mapInSlices<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => R,
  size: number = SLICE,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % size === 0) await yieldToLoop();
    out[i] = fn(items[i], i);
  }
  return out;
}

/** Runs a step generator (one that yields between slices of its work) to its end, yielding to the loop at each step. */
export async function runSteps<T>(steps: Generator<void, T>): Promise<T> {
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value;
    await yieldToLoop();
  }
}

/** Runs a step generator to its end at once. */
export function drainSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}
