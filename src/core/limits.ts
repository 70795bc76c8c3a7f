/** The API's stated limits (the proto comments quote these numbers). */
export const LIMITS = {
  maxBatchEmbeddings: 1000,
  maxContentBytes: 65_536,
  maxMetadataBytes: 65_536,
  maxKindBytes: 64,
  maxNameBytes: 256,
  maxSearchLimit: 100,
  defaultSearchLimit: 10,
  maxSearchOffset: 10_000,
  maxKindFilters: 32,
} as const;
