import { tmpdir } from "node:os";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { reembed, type ReembedPass, type ReembedReport } from "../core/reembed.js";
import type { Embedder } from "../embedders/embedder.js";
import { createConfiguredEmbedder } from "./embedder.js";
import { openPostgres } from "./postgres.js";
import { createCollectionVectorStore, openQdrant } from "./qdrant.js";
import { createModelRelabel } from "../stores/postgres-model-relabel.js";
import { createQdrantAliases, modelCollectionName } from "./qdrant-alias.js";

export interface RunReembedOptions {
  /** The service's configuration: Postgres, Qdrant, QDRANT_COLLECTION_NAME (the alias), OpenAI key. */
  config: Config;
  model: string;
  dimensions: number;
  batchSize: number;
  buildOnly?: boolean;
  /** QDRANT_COLLECTION_NAME is a plain collection (an older install): delete it and alias the name instead. */
  replaceCollection?: boolean;
  logger: Logger;
  /** Tests: another embedder for the new model, and a hook between passes. */
  embedder?: Embedder;
  afterPass?(pass: ReembedPass): Promise<void>;
}

export interface RunReembedResult {
  alias: string;
  collection: string;
  /** What the alias pointed at before (a collection name), if anything. */
  previous: string | undefined;
  report: ReembedReport | undefined;
}

/** Raised for a request that cannot run as given; its message is the one line the CLI prints. */
export class ReembedUsageError extends Error {}

/**
 * `npm run reembed`: builds `<alias>__<model>__<dimensions>` from the rows in Postgres with the new
 * model (core/reembed.ts) while the service keeps serving the alias's current collection, then points
 * the alias at it. Needs the service's real Postgres and Qdrant (embedded ones live inside the service).
 */
export async function runReembed(options: RunReembedOptions): Promise<RunReembedResult> {
  const { config, logger } = options;
  if (config.postgres.url === undefined || config.qdrant.host === undefined) {
    throw new ReembedUsageError(
      "reembed needs the service's Postgres and Qdrant: set DATABASE_URL (or POSTGRES_HOST...) and QDRANT_HOST (or QDRANT_URL) as the service has them",
    );
  }
  const target = { ...config, embedding: { model: options.model, dimensions: options.dimensions } };
  const embedder = options.embedder ?? (await createConfiguredEmbedder(target, logger));
  if (embedder.model !== options.model || embedder.dimensions !== options.dimensions) {
    throw new ReembedUsageError(
      `the configured embedder produces model "${embedder.model}" at ${embedder.dimensions} dimensions, not "${options.model}" at ${options.dimensions}` +
        (embedder.name === "local"
          ? ": set OPENAI_API_KEY for an OpenAI model, or pass --model " + embedder.model
          : ""),
    );
  }
  const alias = config.qdrant.collectionName;
  const collection = modelCollectionName(alias, options.model, options.dimensions);
  const closers: Array<() => Promise<void>> = [];
  try {
    const postgres = await openPostgres({ config, dataDir: tmpdir(), logger });
    closers.push(postgres.close);
    const qdrant = await openQdrant({ config, dataDir: tmpdir(), logger });
    closers.push(qdrant.close);
    const aliases = createQdrantAliases(qdrant.client);

    const resolved = await aliases.resolve(alias);
    if (resolved.kind === "collection" && !options.replaceCollection) {
      throw new ReembedUsageError(
        `QDRANT_COLLECTION_NAME "${alias}" is a collection, not an alias: rerun with --replace-collection to build "${collection}", delete "${alias}" and create the alias ` +
          "(calls fail for the moment between the two; with an alias, later switches have no such gap)",
      );
    }
    const previous =
      resolved.kind === "alias" ? resolved.collection : resolved.kind === "collection" ? alias : undefined;
    if (previous === collection) {
      logger.info({ alias, collection }, `reembed: "${alias}" already points at "${collection}"; nothing to do`);
      return { alias, collection, previous, report: undefined };
    }
    logger.info(
      { alias, collection, previous: previous ?? null, model: options.model, dimensions: options.dimensions },
      `reembed: building "${collection}" while "${alias}" keeps serving "${previous ?? "nothing"}"`,
    );

    let lastPercent = -1;
    const report = await reembed({
      metadata: postgres.metadata,
      target: createCollectionVectorStore({
        config: target,
        backend: qdrant,
        model: options.model,
        logger,
        collectionName: collection,
      }),
      embedder,
      batchSize: options.batchSize,
      buildOnly: options.buildOnly,
      logger,
      afterPass: options.afterPass,
      relabel: createModelRelabel(postgres.pool, logger),
      onProgress: (progress) => {
        const percent =
          progress.total === 0 ? 100 : Math.min(100, Math.floor((progress.scanned / progress.total) * 100));
        if (percent !== lastPercent) {
          lastPercent = percent;
          logger.info(
            { ...progress, percent },
            `reembed: ${progress.pass} ${progress.scanned}/${progress.total} rows (${percent}%), ${progress.embedded} embedded`,
          );
        }
      },
      flip: async () => {
        if (resolved.kind === "collection") await aliases.deleteCollection(alias);
        await aliases.point(alias, collection);
        logger.warn(
          { alias, collection, previous: previous ?? null },
          `reembed: alias "${alias}" now points at "${collection}"`,
        );
      },
    });
    if (report.flipped) {
      logger.info(
        { alias, collection, previous: previous ?? null },
        `reembed: done. Restart the service with EMBEDDING_MODEL=${options.model} EMBEDDING_DIMENSIONS=${options.dimensions}` +
          (previous !== undefined && previous !== alias ? `; drop "${previous}" once nothing reads it` : ""),
      );
    } else {
      logger.info(
        { alias, collection },
        `reembed: "${collection}" built; "${alias}" left unchanged (--build-only). Run again without --build-only to catch up and flip`,
      );
    }
    return { alias, collection, previous, report };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}
