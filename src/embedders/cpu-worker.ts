/**
 * The worker thread behind `cpu-pool`: token counting and local embedding of texts too long to
 * handle on the event loop. Plain functions of their inputs; no I/O.
 */
import { parentPort } from "node:worker_threads";
import { embedText } from "./local-embedder.js";
import { countCl100kTokens } from "./openai-tokenizer.js";
import type { CpuRequest, CpuResponse } from "./cpu-pool.js";

parentPort?.on("message", (request: CpuRequest) => {
  let response: CpuResponse;
  try {
    if (request.op === "count") {
      response = { id: request.id, tokens: request.texts.map((text) => countCl100kTokens(text, request.limit)) };
    } else {
      const vectors = request.texts.map((text) => embedText(text, request.dimensions));
      const tokens = request.texts.map((text) => countCl100kTokens(text));
      response = { id: request.id, tokens, vectors };
    }
  } catch (error) {
    response = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(response, response.vectors?.map((vector) => vector.buffer as ArrayBuffer) ?? []);
});
