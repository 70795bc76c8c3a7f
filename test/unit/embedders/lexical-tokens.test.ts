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

describe("lexicalTerms on ASCII text", () => {
  // Text with any non-ASCII character takes the regular-expression path; appending " é" forces it,
  // and adds the one word "é" at the end.
  const byRegex = (text: string) => lexicalTerms(`${text} é`).slice(0, -1);

  it("finds the same words as the regular expressions on generated identifiers and prose", () => {
    const alphabet = "aAbBzZmMqQ09_ -.:\n\tIdHTMLxX1";
    let state = 7;
    const next = () => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state;
    };
    for (let n = 0; n < 2_000; n++) {
      let text = "";
      const length = next() % 40;
      for (let i = 0; i < length; i++) text += alphabet[next() % alphabet.length];
      expect(lexicalTerms(text), JSON.stringify(text)).toEqual(byRegex(text));
    }
    const samples = [
      "Column: bench.t12.c12\nType: text\nDescription: benchmark column 12 of t12",
      "HTMLParser getHTTPResponseCode XMLHttpRequest area2code ABc Ab1 aB A1b",
      "concert_id concertId ConcertID AREA_CODE_STATE singers countries",
      "a".repeat(41) + " " + "B".repeat(45) + "c",
    ];
    for (const text of samples) expect(lexicalTerms(text)).toEqual(byRegex(text));
  });
});
