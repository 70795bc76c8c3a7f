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
  maxQuestionBytes: 8_192,
  defaultContextChunks: 40,
  maxContextChunks: 200,
  defaultContextTokens: 4_000,
  minContextTokens: 64,
  maxContextTokens: 100_000,
} as const;
