/**
 * The worker thread behind `cpu-pool`: token counting and local embedding of texts too long to
 * handle on the event loop. Plain functions of their inputs; no I/O.
 */
import { parentPort } from "node:worker_threads";
import { catalogChunks } from "../core/catalog/chunks.js";
import { assembleContext } from "../core/context/assemble.js";
import { InvalidArgumentError } from "../core/errors.js";
import { embedText } from "./local-embedder.js";
import { countCl100kTokens } from "./openai-tokenizer.js";
import type { CpuRequest, CpuResponse } from "./cpu-pool.js";

parentPort?.on("message", (request: CpuRequest) => {
  let response: CpuResponse;
  try {
    if (request.op === "count") {
      response = { id: request.id, tokens: request.texts.map((text) => countCl100kTokens(text, request.limit)) };
    } else if (request.op === "assemble") {
      const context = assembleContext({ ...request.input, countTokens: countCl100kTokens });
      const chunks = context.chunks.map(({ row, ...chunk }) => ({ ...chunk, id: row.id }));
      response = { id: request.id, context: { ...context, chunks } };
    } else if (request.op === "catalog") {
      const chunks = catalogChunks(request.catalogId, request.catalog, { countTokens: countCl100kTokens });
      response = { id: request.id, chunks, tokens: chunks.map((chunk) => countCl100kTokens(chunk.content)) };
    } else {
      const vectors = request.texts.map((text) => embedText(text, request.dimensions));
      const tokens = request.texts.map((text) => countCl100kTokens(text));
      response = { id: request.id, tokens, vectors };
    }
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      const reason = error.message.startsWith(`${error.field}: `)
        ? error.message.slice(error.field.length + 2)
        : error.message;
      response = { id: request.id, invalid: { field: error.field, reason } };
    } else response = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(response, response.vectors?.map((vector) => vector.buffer as ArrayBuffer) ?? []);
});
