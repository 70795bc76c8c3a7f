/**
 * Keeps CPU-heavy text work off the event loop. Counting the tokens of a 64 KiB text without spaces,
 * or embedding it with the local embedder, takes tens to hundreds of milliseconds: on the loop that
 * would stall every other call, health checks included. Work whose input is small (`INLINE_CHARS`)
 * runs inline, where a worker round trip would cost more than the work; the rest goes to one worker
 * thread per pool, in order.
 *
 * The worker is started on first use and `unref`'d, so an idle pool never keeps a process alive.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CatalogChunk, CatalogInput } from "../core/catalog/chunks.js";
import type { AssembleInput, AssembledContext, ContextChunk } from "../core/context/assemble.js";
import { InvalidArgumentError, UnavailableError } from "../core/errors.js";
import { embedText } from "./local-embedder.js";
import { countCl100kTokens } from "./openai-tokenizer.js";

/** Below this many characters in one call, the work is done inline (well under a millisecond). */
export const INLINE_CHARS = 2_048;
/** Texts per worker message: the loop copies each message, so each stays small. */
const TEXTS_PER_MESSAGE = 16;

export type CpuJob =
  | { op: "count"; texts: string[]; limit?: number }
  | { op: "embed"; texts: string[]; dimensions: number }
  | { op: "catalog"; catalogId: string; catalog: CatalogInput }
  | { op: "assemble"; input: Omit<AssembleInput, "countTokens"> };
export type CpuRequest = CpuJob & { id: number };

/** An assembled context as it crosses back from the worker: chunks name their rows by id. */
export type AssembledContextById = Omit<AssembledContext, "chunks"> & {
  chunks: Array<Omit<ContextChunk, "row"> & { id: string }>;
};

export interface CpuResponse {
  id: number;
  tokens?: number[];
  vectors?: Float32Array[];
  chunks?: CatalogChunk[];
  context?: AssembledContextById;
  /** A refusal of the input: rethrown as the same InvalidArgumentError. */
  invalid?: { field: string; reason: string };
  error?: string;
}

/** A catalog's chunks and the cl100k tokens of each. */
export interface ChunkedCatalog {
  chunks: CatalogChunk[];
  tokens: number[];
}

export interface CpuPool {
  /** cl100k tokens of each text (with `limit`, a count above it once it is exceeded). */
  countTokens(texts: readonly string[], limit?: number): Promise<number[]>;
  /** Local-embedder vectors and cl100k token counts of each text. */
  embedLocal(texts: readonly string[], dimensions: number): Promise<{ vectors: Float32Array[]; tokens: number[] }>;
  /**
   * `catalogChunks` (validation included) with cl100k token budgets, and each chunk's tokens, on the
   * worker: a catalog of long descriptions is seconds of counting.
   */
  chunkCatalog(catalogId: string, catalog: CatalogInput): Promise<ChunkedCatalog>;
  /** `assembleContext` with cl100k counts, on the worker. */
  assembleContext(input: Omit<AssembleInput, "countTokens">): Promise<AssembledContext>;
  close(): Promise<void>;
}

export function createCpuPool(): CpuPool {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (response: CpuResponse) => void; reject: (error: Error) => void }>();

  function started(): Worker {
    if (worker !== undefined) return worker;
    const created = startWorker();
    created.unref();
    created.on("message", (response: CpuResponse) => {
      const waiter = pending.get(response.id);
      pending.delete(response.id);
      waiter?.resolve(response);
    });
    const failAll = (error: Error) => {
      worker = undefined;
      for (const waiter of pending.values())
        waiter.reject(new UnavailableError("embedder", `CPU worker failed: ${error.message}`, { cause: error }));
      pending.clear();
    };
    created.on("error", failAll);
    created.on("exit", (code) => {
      if (pending.size > 0) failAll(new Error(`exited with code ${code}`));
      worker = undefined;
    });
    worker = created;
    return created;
  }

  function send(request: CpuJob): Promise<CpuResponse> {
    const id = nextId++;
    const target = started();
    return new Promise<CpuResponse>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      target.postMessage({ ...request, id });
    }).then((response) => {
      if (response.invalid !== undefined)
        throw new InvalidArgumentError(response.invalid.field, response.invalid.reason);
      if (response.error !== undefined) throw new UnavailableError("embedder", `CPU worker failed: ${response.error}`);
      return response;
    });
  }

  async function inPieces<T>(texts: readonly string[], run: (slice: string[]) => Promise<T[]>): Promise<T[]> {
    const parts: Promise<T[]>[] = [];
    for (let i = 0; i < texts.length; i += TEXTS_PER_MESSAGE) parts.push(run(texts.slice(i, i + TEXTS_PER_MESSAGE)));
    return (await Promise.all(parts)).flat();
  }

  return {
    async countTokens(texts, limit) {
      if (totalChars(texts) <= INLINE_CHARS) return texts.map((text) => countCl100kTokens(text, limit));
      return inPieces(texts, async (slice) => (await send({ op: "count", texts: slice, limit })).tokens ?? []);
    },
    async embedLocal(texts, dimensions) {
      if (totalChars(texts) <= INLINE_CHARS) {
        return {
          vectors: texts.map((text) => embedText(text, dimensions)),
          tokens: texts.map((text) => countCl100kTokens(text)),
        };
      }
      const results = await inPieces(texts, async (slice) => {
        const response = await send({ op: "embed", texts: slice, dimensions });
        return slice.map((_, i) => ({ vector: response.vectors![i], tokens: response.tokens![i] }));
      });
      return { vectors: results.map((result) => result.vector), tokens: results.map((result) => result.tokens) };
    },
    async chunkCatalog(catalogId, catalog) {
      const response = await send({ op: "catalog", catalogId, catalog });
      return { chunks: response.chunks ?? [], tokens: response.tokens ?? [] };
    },
    async assembleContext(input) {
      const response = await send({ op: "assemble", input });
      // The rows were sent; only their ids come back (half the structured clone).
      const rows = new Map(
        [...input.rows, ...(input.bridgeRows ?? []), ...(input.columnRows ?? [])].map((row) => [row.id, row]),
      );
      const context = response.context!;
      return {
        ...context,
        chunks: context.chunks.map(({ id, ...chunk }) => ({ ...chunk, row: rows.get(id)! })),
      };
    },
    async close() {
      const current = worker;
      worker = undefined;
      await current?.terminate();
    },
  };
}

function totalChars(texts: readonly string[]): number {
  let total = 0;
  for (const text of texts) total += text.length;
  return total;
}

/**
 * The compiled worker beside this file, or, when running from TypeScript sources (tsx, vitest), the
 * `.ts` file loaded after registering tsx's hooks in the worker (hooks of the parent thread do not
 * reach a worker on Node 20).
 */
function startWorker(): Worker {
  const compiled = new URL("./cpu-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled);
  const source = new URL("./cpu-worker.ts", import.meta.url).href;
  // tsx is a development dependency: only source runs need it, and they run from the project.
  const boot = `import("tsx/esm/api").then((api) => { api.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(boot, { eval: true });
}
