import type { Embedder } from "../../embedders/embedder.js";
import type { MetadataStore } from "../../stores/metadata-store.js";
import { catalogChunks, type CatalogChunk, type CatalogInput } from "./chunks.js";
import type { Ingest } from "../ingest.js";
import { planUpsert } from "../ingest.js";
import type { EmbeddingRow } from "../types.js";
import { CATALOG_ORIGIN } from "./types.js";

/** Chunks written per atomic batch. */
const WRITE_BATCH = 256;
const LIST_PAGE = 5000;

export interface CatalogSyncResult {
  added: number;
  updated: number;
  unchanged: number;
  deleted: number;
  /** Tokens embedded (for a dry run: the estimate). */
  tokens: number;
  dryRun: boolean;
}

export interface CatalogSyncDeps {
  metadata: MetadataStore;
  embedder: Embedder;
  ingest: Ingest;
  /**
   * Chunks a catalog and counts each chunk's tokens, off the event loop (`CpuPool.chunkCatalog`);
   * inline with the embedder's counter when absent.
   */
  chunkCatalog?: (catalogId: string, catalog: CatalogInput) => Promise<{ chunks: CatalogChunk[]; tokens: number[] }>;
}

/**
 * Brings a catalog's chunks in line with an upload: chunk ids are deterministic, so unchanged chunks
 * are neither embedded nor written, changed ones are re-embedded, and chunks the upload no longer has
 * are deleted. Each batch is atomic across both stores; running the sync again finishes an interrupted
 * one (it is idempotent), so the catalog is never left mixing two uploads for long.
 */
export function createCatalogSync(deps: CatalogSyncDeps) {
  const { metadata, embedder, ingest } = deps;

  function chunkInline(catalogId: string, catalog: CatalogInput) {
    const chunks = catalogChunks(catalogId, catalog, {
      countTokens: (text, limit) => embedder.countTokens(text, limit),
    });
    return { chunks, tokens: chunks.map((chunk) => embedder.countTokens(chunk.content)) };
  }

  async function existingCatalogRows(store: MetadataStore, catalogId: string): Promise<Map<string, EmbeddingRow>> {
    const rows = new Map<string, EmbeddingRow>();
    let afterId: string | undefined;
    for (;;) {
      const page = await store.listRows({ catalogId, afterId, limit: LIST_PAGE });
      for (const row of page) {
        if (row.metadata.origin === CATALOG_ORIGIN) {
          rows.set(row.id, row);
        }
      }
      if (page.length < LIST_PAGE) {
        return rows;
      }
      afterId = page[page.length - 1].id;
    }
  }

  return {
    async sync(
      catalogId: string,
      catalog: CatalogInput,
      options: { dryRun: boolean; signal?: AbortSignal },
    ): Promise<CatalogSyncResult> {
      const chunked =
        deps.chunkCatalog !== undefined ? await deps.chunkCatalog(catalogId, catalog) : chunkInline(catalogId, catalog);
      const chunks: CatalogChunk[] = chunked.chunks.map((chunk) => ({
        ...chunk,
        metadata: { ...chunk.metadata, origin: CATALOG_ORIGIN },
      }));
      const tenant = chunks[0]?.catalogId ?? catalogId.toLowerCase();
      if (options.dryRun) {
        const existing = await existingCatalogRows(metadata, tenant);
        const wanted = new Set(chunks.map((chunk) => chunk.id));
        const stale = [...existing.keys()].filter((id) => !wanted.has(id));
        const result: CatalogSyncResult = {
          added: 0,
          updated: 0,
          unchanged: 0,
          deleted: stale.length,
          tokens: 0,
          dryRun: true,
        };
        chunks.forEach((chunk, index) => {
          const plan = planUpsert(chunk, index, existing.get(chunk.id), embedder.model);
          result[plan.outcome === "created" ? "added" : plan.outcome]++;
          if (plan.needsEmbedding) {
            result.tokens += chunked.tokens[index];
          }
        });
        return result;
      }

      // One sync of a catalog at a time: the catalog lock is held from the listing to the last delete,
      // so a second sync sees everything the first wrote and removes what its own upload lacks.
      return metadata.withLocks({ catalogIds: [tenant] }, async (store) => {
        const existing = await existingCatalogRows(store, tenant);
        const wanted = new Set(chunks.map((chunk) => chunk.id));
        const stale = [...existing.keys()].filter((id) => !wanted.has(id));
        const result: CatalogSyncResult = { added: 0, updated: 0, unchanged: 0, deleted: 0, tokens: 0, dryRun: false };
        for (let start = 0; start < chunks.length; start += WRITE_BATCH) {
          const written = await ingest.upsert(chunks.slice(start, start + WRITE_BATCH).map(toUpsertInput), {
            signal: options.signal,
            store,
          });
          for (const outcome of written.outcomes) {
            result[outcome === "created" ? "added" : outcome]++;
          }
          result.tokens += written.embeddedTokens;
        }
        for (let start = 0; start < stale.length; start += WRITE_BATCH) {
          result.deleted += (
            await ingest.deleteMany(stale.slice(start, start + WRITE_BATCH), { catalogId: tenant, store })
          ).deleted.length;
        }
        return result;
      });
    },
  };
}

function toUpsertInput(chunk: CatalogChunk) {
  const { naturalKey: _naturalKey, ...input } = chunk;
  return input;
}

export type CatalogSync = ReturnType<typeof createCatalogSync>;
