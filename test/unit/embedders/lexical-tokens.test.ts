import { describe, expect, it } from "vitest";
import { lexicalTerms, lexicalTokens } from "../../../src/embedders/lexical-tokens.js";

describe("lexicalTokens", () => {
  it("splits snake_case, camelCase, acronyms and digits, lower-cased", () => {
    expect(lexicalTokens("concert_id")).toEqual(["concert", "id"]);
    expect(lexicalTokens("concertId ConcertID")).toEqual(["concert", "id", "concert", "id"]);
    expect(lexicalTokens("HTMLParser")).toEqual(["html", "parser"]);
    expect(lexicalTokens("area2code")).toEqual(["area", "2", "code"]);
    expect(lexicalTokens("AREA_CODE_STATE")).toEqual(["area", "code", "state"]);
  });

  it("stems so that inflections meet", () => {
    expect(lexicalTokens("singers")).toEqual(lexicalTokens("singer"));
    expect(lexicalTokens("countries")).toEqual(lexicalTokens("country"));
    expect(lexicalTokens("Employees")).toEqual(lexicalTokens("employee"));
  });

  it("drops stop words and question verbs but keeps data words", () => {
    expect(lexicalTokens("How many singers do we have?")).toEqual(["singer"]);
    expect(lexicalTokens("Show the name and the age of each singer")).toEqual(["name", "ag", "singer"]);
  });

  it("keeps surface words beside stems, and non-Latin words whole", () => {
    expect(lexicalTerms("Singers")).toEqual([{ word: "singers", stem: "singer" }]);
    expect(lexicalTokens("café 東京")).toEqual(["café", "東京"]);
  });

  it("treats punctuation as a separator and returns nothing for empty input", () => {
    expect(lexicalTokens("Table: singer. Columns: singer_id, name")).toEqual([
      "tabl",
      "singer",
      "column",
      "singer",
      "id",
      "name",
    ]);
    expect(lexicalTokens("")).toEqual([]);
    expect(lexicalTokens("?! -- ...")).toEqual([]);
  });
});
