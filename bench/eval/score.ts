// Retrieval metrics as ../shared/eval/README.md defines them: per question, then averaged (percent).

/** A ranked answer to one question, names qualified as `schema.table` and `schema.table.column`. */
export interface RankedAnswer {
  tables: string[];
  columns: string[];
}

export interface Gold {
  /** `schema.table` */
  tables: string[];
  /** `schema.table.column`; empty: scored on tables only. */
  columns: string[];
}

export interface Scores {
  questions: number;
  questionsWithColumns: number;
  tableRecallAt1: number;
  tableRecallAt3: number;
  tableRecallAt5: number;
  columnRecallAt5: number;
  columnRecallAt10: number;
  allTablesAt3: number;
  allColumnsAt10: number;
}

export interface QuestionScore {
  tableRecall: { 1: number; 3: number; 5: number };
  columnRecall?: { 5: number; 10: number };
  allTablesAt3: boolean;
  allColumnsAt10?: boolean;
}

/** Names compare case-insensitively (Spider's SQL and schemas disagree on case). */
const fold = (names: readonly string[]): string[] => [...new Set(names.map((name) => name.toLowerCase()))];

function recall(gold: readonly string[], ranked: readonly string[], k: number): number {
  const top = new Set(ranked.slice(0, k));
  return gold.filter((name) => top.has(name)).length / gold.length;
}

export function scoreQuestion(gold: Gold, answer: RankedAnswer): QuestionScore {
  const goldTables = fold(gold.tables);
  const goldColumns = fold(gold.columns);
  const tables = fold(answer.tables);
  const columns = fold(answer.columns);
  const score: QuestionScore = {
    tableRecall: {
      1: recall(goldTables, tables, 1),
      3: recall(goldTables, tables, 3),
      5: recall(goldTables, tables, 5),
    },
    allTablesAt3: recall(goldTables, tables, 3) === 1,
  };
  if (goldColumns.length > 0) {
    score.columnRecall = { 5: recall(goldColumns, columns, 5), 10: recall(goldColumns, columns, 10) };
    score.allColumnsAt10 = score.columnRecall[10] === 1;
  }
  return score;
}

export function summarize(scores: readonly QuestionScore[]): Scores {
  const mean = (values: readonly number[]) =>
    values.length === 0 ? 0 : round((100 * values.reduce((sum, value) => sum + value, 0)) / values.length);
  const withColumns = scores.filter((score) => score.columnRecall !== undefined);
  return {
    questions: scores.length,
    questionsWithColumns: withColumns.length,
    tableRecallAt1: mean(scores.map((score) => score.tableRecall[1])),
    tableRecallAt3: mean(scores.map((score) => score.tableRecall[3])),
    tableRecallAt5: mean(scores.map((score) => score.tableRecall[5])),
    columnRecallAt5: mean(withColumns.map((score) => score.columnRecall?.[5] ?? 0)),
    columnRecallAt10: mean(withColumns.map((score) => score.columnRecall?.[10] ?? 0)),
    allTablesAt3: mean(scores.map((score) => (score.allTablesAt3 ? 1 : 0))),
    allColumnsAt10: mean(withColumns.map((score) => (score.allColumnsAt10 ? 1 : 0))),
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
