import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Embedder } from "../embedders/embedder.js";
import { createLocalEmbedder } from "../embedders/local-embedder.js";

/**
 * The configured embedder: OpenAI with OPENAI_API_KEY, the local one otherwise. The service and
 * migrate-pgvector both call this, so a collection records the model the service will check. The
 * OpenAI SDK is loaded only when it is used (~0.1 s and ~10 MB a local start does without).
 */
export async function createConfiguredEmbedder(config: Config, logger: Logger): Promise<Embedder> {
  if (config.openai === undefined) {
    // EMBEDDING_MODEL names an OpenAI model; the local embedder records its own name so a collection
    // built by it is never mistaken for one built by OpenAI.
    if (config.embedding.model !== undefined) {
      logger.warn(
        { model: config.embedding.model },
        "EMBEDDING_MODEL is ignored without OPENAI_API_KEY: the local embedder is used",
      );
    }
    return createLocalEmbedder({ dimensions: config.embedding.dimensions });
  }
  const { createOpenAIEmbedder } = await import("../embedders/openai-embedder.js");
  return createOpenAIEmbedder({
    apiKey: config.openai.apiKey,
    baseURL: config.openai.baseURL,
    model: config.embedding.model ?? "text-embedding-3-large",
    dimensions: config.embedding.dimensions,
    maxConcurrentRequests: config.openai.maxConcurrentRequests,
    logger,
  });
}
