// Schema-retrieval quality through the service: the Spider-derived tuning set (../shared/eval) is
// uploaded with CreateEmbeddingsForCatalog and every question asked with RetrieveContext over a real
// gRPC connection, in two settings (README there): each database its own catalog ("per-catalog"), and
// one catalog holding every database as a schema ("large"). Prints the figures and writes them, with
// every question's ranked tables and columns, to JSON.
//
//   npx tsx bench/eval/retrieval.ts [--setting per-catalog|large|both] [--limit N] [--out FILE]
//       [--questions F] [--catalogs F] [--distractors F] [--descriptions none|natural]
//       [--target host:port] [--concurrency 4]
//
// Without --target the app starts in-process on port 0 with its embedded defaults (PGlite, embedded
// Qdrant, local embedder unless OPENAI_API_KEY is set); the environment is passed through, so
// DATABASE_URL, QDRANT_URL or EMBEDDING_DIMENSIONS (default 3072) choose the backends.
//
// Uploads: a database is one schema ("main" per catalog; its db_id in the large catalog); columns carry
// type, primary key and references. Descriptions stay empty by default (names only); with
// --descriptions natural Spider's readable names become descriptions, as any catalog with readable
// names would be uploaded (the service drops a description that only repeats the name's words).
//
// Ranking read from a response: tables in the response's order; columns by their chunk's score (best
// first; key columns, score 0, after every direct hit in response order). Each question is asked twice:
// with budgets large enough to rank 5+ tables and 10+ columns (200 chunks, 20,000 tokens) for recall,
// and with the default budgets for the context size a caller gets.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService, type RetrieveContextResponse } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import {
  catalogIdOf,
  readCatalogs,
  readQuestions,
  schemaOf,
  type CatalogSchemaInit,
  type Question,
  type SpiderCatalogs,
} from "./dataset.js";
import { scoreQuestion, summarize, type Gold, type QuestionScore, type RankedAnswer, type Scores } from "./score.js";

const SHARED_EVAL = new URL("../../../shared/eval/", import.meta.url);
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

const { values } = parseArgs({
  options: {
    questions: { type: "string", default: fileURLToPath(new URL("tuning.jsonl", SHARED_EVAL)) },
    catalogs: { type: "string", default: fileURLToPath(new URL("tuning-catalogs.json", SHARED_EVAL)) },
    distractors: { type: "string", default: fileURLToPath(new URL("catalogs-distractors.json", SHARED_EVAL)) },
    out: { type: "string" },
    setting: { type: "string", default: "both" },
    limit: { type: "string" },
    target: { type: "string" },
    descriptions: { type: "string", default: "none" },
    concurrency: { type: "string", default: "4" },
  },
});

type Setting = "per-catalog" | "large";
const SETTINGS: Setting[] = values.setting === "both" ? ["per-catalog", "large"] : [values.setting as Setting];
if (!SETTINGS.every((setting) => setting === "per-catalog" || setting === "large")) {
  throw new Error(`--setting must be per-catalog, large or both, got ${values.setting}`);
}
if (values.descriptions !== "none" && values.descriptions !== "natural") {
  throw new Error(`--descriptions must be none or natural, got ${values.descriptions}`);
}
const DESCRIPTIONS = values.descriptions;
const CONCURRENCY = Math.max(1, Number(values.concurrency));
/** Budgets that let the service rank well past 5 tables and 10 columns. */
const RANKING_BUDGET = { maxChunks: 200, maxTokens: 20_000 };
/** Schema of every database in the per-catalog setting. */
const SINGLE_SCHEMA = "main";
/** Tables and columns of each question's ranking kept in the JSON. */
const KEEP_TABLES = 10;
const KEEP_COLUMNS = 30;

interface Clients {
  embeddings: Client<typeof EmbeddingService>;
  retrieval: Client<typeof RetrievalService>;
}

interface QuestionResult {
  id: string;
  db_id: string;
  question: string;
  gold: Gold;
  tables: string[];
  columns: string[];
  score: QuestionScore;
  defaultBudgetTokens: number;
  insufficientContext: boolean;
}

interface SettingResult {
  setting: Setting;
  catalogs: number;
  tables: number;
  columns: number;
  indexSeconds: number;
  /** What CreateEmbeddingsForCatalog did (chunks); a persistent DATA_DIR makes a re-run "unchanged". */
  synced: { added: number; updated: number; unchanged: number; deleted: number };
  askSeconds: number;
  scores: Scores;
  meanContextTokens: { defaultBudget: number; rankingBudget: number };
  questions: QuestionResult[];
}

async function main(): Promise<void> {
  const questions = (await readQuestions(values.questions)).slice(
    0,
    values.limit === undefined ? undefined : Number(values.limit),
  );
  const catalogs = await readCatalogs(values.catalogs);
  const { clients, stop, target, embedder } = await connect();
  const results: SettingResult[] = [];
  try {
    for (const setting of SETTINGS) {
      const distractors = setting === "large" ? await readCatalogs(values.distractors) : {};
      results.push(await runSetting(setting, clients, questions, catalogs, distractors));
      print(results.at(-1)!);
    }
  } finally {
    await stop();
  }
  const out =
    values.out ??
    path.join(REPO_ROOT, "bench", "results", `eval-retrieval-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await mkdir(path.dirname(out), { recursive: true });
  const report = {
    createdAt: new Date().toISOString(),
    target,
    embedder,
    descriptions: DESCRIPTIONS,
    rankingBudget: RANKING_BUDGET,
    settings: results,
  };
  await writeFile(out, `${JSON.stringify(report, null, 1)}\n`);
  console.log(`\nwrote ${out}`);
}

async function connect(): Promise<{
  clients: Clients;
  stop: () => Promise<void>;
  target: string;
  embedder: Record<string, string>;
}> {
  let app: App | undefined;
  let baseUrl: string;
  const embedder: Record<string, string> = {};
  if (values.target !== undefined) {
    baseUrl = values.target.includes("://") ? values.target : `http://${values.target}`;
  } else {
    const config = loadConfig({
      ...process.env,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      METRICS_HOST: "127.0.0.1",
      METRICS_PORT: "0",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
      EMBEDDING_DIMENSIONS: process.env.EMBEDDING_DIMENSIONS ?? "3072",
    });
    app = createApp(config);
    const running = await app.start();
    baseUrl = `http://127.0.0.1:${running.grpcPort}`;
    embedder.kind = config.openai === undefined ? "local" : "openai";
    embedder.dimensions = String(config.embedding.dimensions);
  }
  const transport = createGrpcTransport({ baseUrl });
  return {
    clients: {
      embeddings: createClient(EmbeddingService, transport),
      retrieval: createClient(RetrievalService, transport),
    },
    stop: async () => app?.stop(),
    target: values.target ?? "in-process",
    embedder,
  };
}

async function runSetting(
  setting: Setting,
  clients: Clients,
  questions: readonly Question[],
  catalogs: SpiderCatalogs,
  distractors: SpiderCatalogs,
): Promise<SettingResult> {
  // What to upload: per catalog, each database as schema "main" of its own catalog; large, every
  // database (tuning and distractors) as a schema named by its db_id in one catalog.
  const uploads: Array<{ catalogId: string; schemas: CatalogSchemaInit[] }> =
    setting === "per-catalog"
      ? Object.entries(catalogs).map(([db, tables]) => ({
          catalogId: catalogIdOf(`per-catalog/${db}`),
          schemas: [schemaOf(SINGLE_SCHEMA, tables, DESCRIPTIONS)],
        }))
      : [
          {
            catalogId: catalogIdOf("large"),
            schemas: Object.entries({ ...distractors, ...catalogs }).map(([db, tables]) =>
              schemaOf(db, tables, DESCRIPTIONS),
            ),
          },
        ];
  const schemaOfQuestion = (question: Question) => (setting === "per-catalog" ? SINGLE_SCHEMA : question.db_id);
  const catalogOfQuestion = (question: Question) =>
    setting === "per-catalog" ? catalogIdOf(`per-catalog/${question.db_id}`) : catalogIdOf("large");

  const indexStart = performance.now();
  const synced = { added: 0, updated: 0, unchanged: 0, deleted: 0 };
  for (const upload of uploads) {
    const response = await clients.embeddings.createEmbeddingsForCatalog({
      catalogId: upload.catalogId,
      catalog: { schemas: upload.schemas, documents: [] },
    });
    synced.added += response.addedCount;
    synced.updated += response.updatedCount;
    synced.unchanged += response.unchangedCount;
    synced.deleted += response.deletedCount;
  }
  const indexSeconds = (performance.now() - indexStart) / 1000;
  const tables = uploads.flatMap((upload) => upload.schemas.flatMap((schema) => schema.tables));

  const askStart = performance.now();
  const results = await mapConcurrently(
    questions,
    CONCURRENCY,
    async (question): Promise<QuestionResult & { rankingTokens: number }> => {
      const catalogId = catalogOfQuestion(question);
      const [ranking, defaults] = await Promise.all([
        clients.retrieval.retrieveContext({ catalogId, question: question.question, ...RANKING_BUDGET }),
        clients.retrieval.retrieveContext({ catalogId, question: question.question }),
      ]);
      const schema = schemaOfQuestion(question);
      const gold: Gold = {
        tables: question.gold_tables.map((table) => `${schema}.${table}`),
        columns: question.gold_columns.map((column) => `${schema}.${column}`),
      };
      const answer = rankedAnswer(ranking);
      return {
        id: question.id,
        db_id: question.db_id,
        question: question.question,
        gold,
        tables: answer.tables.slice(0, KEEP_TABLES),
        columns: answer.columns.slice(0, KEEP_COLUMNS),
        score: scoreQuestion(gold, answer),
        defaultBudgetTokens: defaults.tokenCount,
        rankingTokens: ranking.tokenCount,
        insufficientContext: ranking.insufficientContext,
      };
    },
  );
  const askSeconds = (performance.now() - askStart) / 1000;
  const mean = (values: number[]) =>
    Math.round(values.reduce((sum, value) => sum + value, 0) / Math.max(values.length, 1));
  return {
    setting,
    catalogs: uploads.length,
    tables: tables.length,
    columns: tables.reduce((sum, table) => sum + table.columns.length, 0),
    indexSeconds: round(indexSeconds),
    synced,
    askSeconds: round(askSeconds),
    scores: summarize(results.map((result) => result.score)),
    meanContextTokens: {
      defaultBudget: mean(results.map((result) => result.defaultBudgetTokens)),
      rankingBudget: mean(results.map((result) => result.rankingTokens)),
    },
    questions: results.map(({ rankingTokens: _, ...result }) => result),
  };
}

/** Tables in response order; columns by chunk score, best first, ties (key columns at 0) in response order. */
export function rankedAnswer(response: RetrieveContextResponse): RankedAnswer {
  const tables = response.tables.map((table) => `${table.schemaName}.${table.tableName}`);
  const columns = response.chunks
    .map((chunk, index) => ({ chunk, index }))
    .filter(({ chunk }) => chunk.embedding?.kind === "column")
    .sort((a, b) => b.chunk.score - a.chunk.score || a.index - b.index)
    .map(({ chunk }) => {
      const embedding = chunk.embedding!;
      const column = (embedding.metadata as { column?: unknown } | undefined)?.column;
      return `${embedding.schemaName}.${embedding.tableName}.${typeof column === "string" ? column : ""}`;
    });
  return { tables, columns };
}

async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

function print(result: SettingResult): void {
  const s = result.scores;
  console.log(
    [
      `\n${result.setting}: ${result.catalogs} catalog(s), ${result.tables} tables, ${result.columns} columns; ${result.synced.added + result.synced.updated} chunks embedded in ${result.indexSeconds} s, ${s.questions} questions asked in ${result.askSeconds} s`,
      `  table recall@1 ${s.tableRecallAt1}  @3 ${s.tableRecallAt3}  @5 ${s.tableRecallAt5}   all-tables@3 ${s.allTablesAt3}`,
      `  column recall@5 ${s.columnRecallAt5}  @10 ${s.columnRecallAt10}   all-columns@10 ${s.allColumnsAt10}   (${s.questionsWithColumns} questions with gold columns)`,
      `  mean context tokens: ${result.meanContextTokens.defaultBudget} (default budgets), ${result.meanContextTokens.rankingBudget} (ranking budgets)`,
    ].join("\n"),
  );
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

await main();
