import { CONTRACT_DIMENSIONS, describeVectorStoreContract } from "../../contract/vector-store.js";
import { createInMemoryVectorStore } from "../../helpers/in-memory-stores.js";

// The in-memory store the core's unit tests run on, held to the contract the Qdrant store meets.
describeVectorStoreContract("in-memory", async () => ({
  store: createInMemoryVectorStore(CONTRACT_DIMENSIONS),
  close: async () => {},
}));
