import { TokenizerType } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { createTokenizer } from "../../../src/embedded/qdrant/text-tokenizer.js";

describe("full-text tokenizers", () => {
  it("splits words on non-alphanumerics, lower-cased, within length bounds", () => {
    expect(createTokenizer(undefined)("Hello, big-World! 42x")).toEqual(["hello", "big", "world", "42x"]);
    expect(createTokenizer({ lowercase: false, minTokenLen: 3n })("Hi big World")).toEqual(["big", "World"]);
    expect(createTokenizer({ tokenizer: TokenizerType.Whitespace })("big-World  ok")).toEqual(["big-world", "ok"]);
  });

  it("refuses what it would not reproduce exactly", () => {
    expect(() => createTokenizer({ tokenizer: TokenizerType.Multilingual })).toThrow(/Multilingual/);
    expect(() => createTokenizer({ stemmer: {} })).toThrow(/stemming/);
  });
});
