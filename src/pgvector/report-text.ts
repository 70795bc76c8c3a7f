import type { CutoverReport } from "./cutover.js";
import type { RollbackReport } from "./rollback.js";
import type { DryRunReport } from "./dry-run.js";
import type { MigrateReport } from "./migrate.js";
import type { UnusableSummary } from "./unusable-rows.js";
import type { VerifyReport } from "./verify.js";

/** Human-readable summaries of the reports, for the CLI's stdout (the JSON file has everything). */

function unusableLines(unusable: UnusableSummary): string[] {
  const count = unusable.nullVector + unusable.wrongDimension;
  if (count === 0) {
    return ["  rows left for re-embedding: none"];
  }
  const lines = [
    `  rows left for re-embedding: ${count} (${unusable.nullVector} null vector, ${unusable.wrongDimension} wrong dimension); --reembed-missing embeds exactly these`,
  ];
  for (const row of unusable.rows) {
    lines.push(
      `    ${row.id}  catalog ${row.catalogId}  ${row.reason}${row.dimensions === null ? "" : ` (${row.dimensions} dims)`}`,
    );
  }
  if (unusable.truncated) {
    lines.push(`    ... ${count - unusable.rows.length} more (see the JSON report)`);
  }
  return lines;
}

function skippedLines(skipped: UnusableSummary): string[] {
  const count = skipped.nullVector + skipped.wrongDimension;
  if (count === 0) {
    return [];
  }
  const lines = [
    `  rows excluded by --skip-missing (no point; --reembed-missing can still embed them): ${count} (${skipped.nullVector} null vector, ${skipped.wrongDimension} wrong dimension)`,
  ];
  for (const row of skipped.rows) {
    lines.push(
      `    ${row.id}  catalog ${row.catalogId}  ${row.reason}${row.dimensions === null ? "" : ` (${row.dimensions} dims)`}`,
    );
  }
  if (skipped.truncated) {
    lines.push(`    ... ${count - skipped.rows.length} more (see the JSON report)`);
  }
  return lines;
}

export function formatDryRun(report: DryRunReport): string {
  return [
    `dry run of ${report.table}.${report.column} (${report.columnType}), target dimension ${report.dimensions}:`,
    `  rows: ${report.totalRows} in ${report.catalogs} catalog(s); already in Qdrant: ${report.alreadyMigrated}; to carry over: ${report.toMigrate}`,
    `  dimensions found: ${report.dimensionsFound.map((entry) => `${entry.dimensions ?? "null"} x ${entry.rows}`).join(", ") || "none"}`,
    ...unusableLines(report.unusable),
    "would:",
    ...report.plan.map((step) => `  - ${step}`),
  ].join("\n");
}

export function formatMigrate(report: MigrateReport): string {
  const t = report.timings;
  return [
    `${report.interrupted ? "INTERRUPTED" : "done"}: ${report.table}.${report.column} (${report.columnType}) -> Qdrant${report.resumed ? `, resumed after ${report.resumedAfterId}` : ""}`,
    `  carried over: ${report.migrated} vector(s) in ${report.batches} batch(es), ${Math.round(report.rowsPerSecond)} rows/s; re-embedded: ${report.reembedded}; model ${report.model}`,
    `  time: read ${ms(t.readMs)}, decode ${ms(t.decodeMs)}, Qdrant upsert ${ms(t.upsertMs)}, write-back ${ms(t.writeBackMs)}, embed ${ms(t.embedMs)}, total ${ms(t.totalMs)}`,
    report.pointIdsDeferred
      ? `  qdrant_point_id: left to --cutover (${report.vectorIndexes.join(", ")} use(s) ${report.column}: writing rows now would update them row by row); progress is in dq_pgvector_moved`
      : `  qdrant_point_id: written for ${report.pointIdsWritten} row(s) in one statement`,
    ...unusableLines(report.unusable),
    ...skippedLines(report.skipped),
    report.interrupted ? "run the same command again to resume from the checkpoint" : "next: --verify",
  ].join("\n");
}

export function formatVerify(report: VerifyReport): string {
  const lines = [
    `verification of ${report.table}.${report.column}: ${report.passed ? "PASSED" : "FAILED"}`,
    `  catalogs: ${report.catalogs.checked} checked, ${report.catalogs.mismatched.length} with different row and point counts`,
    `  rows: ${report.rows.total}; without a point: ${report.rows.missingPoints}; payload mismatches: ${report.rows.payloadMismatches}; vector mismatches: ${report.rows.vectorMismatches} of ${report.rows.vectorsCompared} compared (max difference ${report.rows.maxDifference.toExponential(2)}, tolerance ${report.rows.tolerance})`,
    `  model: every point must be made by ${report.model.expected}; points made by another: ${report.model.mismatches}${report.model.mismatchIds.length > 0 ? ` (${report.model.mismatchIds.slice(0, 10).join(", ")}${report.model.mismatches > 10 ? ", ..." : ""})` : ""}`,
    ...(report.rows.excluded > 0
      ? [
          `  excluded by --skip-missing (no point expected): ${report.rows.excluded}: ${report.rows.excludedIds.slice(0, 20).join(", ")}${report.rows.excluded > 20 ? ", ... (see the JSON report)" : ""}`,
        ]
      : []),
    `  neighbours: mean recall@${report.neighbours.k} ${report.neighbours.meanRecall.toFixed(4)} over ${report.neighbours.samples} sample(s) (worst ${report.neighbours.worstRecall.toFixed(2)}, required ${report.neighbours.required})`,
  ];
  for (const mismatch of report.catalogs.mismatched) {
    lines.push(`    catalog ${mismatch.catalogId}: ${mismatch.rows} row(s), ${mismatch.points} point(s)`);
  }
  for (const failure of report.failures) {
    lines.push(`  FAILED: ${failure}`);
  }
  lines.push(report.passed ? "next: --cutover" : "fix the failures, then --verify again");
  return lines.join("\n");
}

export function formatCutover(report: CutoverReport): string {
  return [
    `cutover of ${report.table} (as ${report.role}): dropped ${report.column} (${report.droppedColumnType})`,
    `  indexes dropped with it (recorded for --rollback): ${report.droppedIndexes.length === 0 ? "none" : report.droppedIndexes.join(", ")}`,
    `  qdrant_point_id written for ${report.pointIdsWritten} row(s) in one statement`,
    report.extensionDropped
      ? "  dropped the vector extension"
      : `  kept the vector extension: ${report.extensionKept ?? "other objects still use it"}`,
  ].join("\n");
}

export function formatRollback(report: RollbackReport): string {
  const lines = [
    `rollback of ${report.table}: ${report.recreatedColumn ? `re-created ${report.column} ${report.columnType}` : `${report.column} was still there`}; restored ${report.restored} vector(s) from Qdrant`,
    `  indexes on ${report.column}: ${report.indexes.length === 0 ? "none" : report.indexes.join(", ")}${report.recreatedIndexes.length > 0 ? ` (re-created: ${report.recreatedIndexes.join(", ")})` : ""}`,
    `  left NULL (the source had no usable vector; re-embedded or skipped): ${report.restoredNull}${report.restoredNullIds.length > 0 ? `: ${report.restoredNullIds.slice(0, 20).join(", ")}${report.restoredNull > 20 ? ", ..." : ""}` : ""}`,
    "  qdrant_point_id is cleared: the old application does not maintain it; a later migration copies every vector again",
  ];
  if (report.missingPoints > 0) {
    lines.push(
      `  ${report.missingPoints} row(s) had no point in Qdrant; their ${report.column} is null: ${report.missingPointIds.join(", ")}`,
    );
  }
  return lines.join("\n");
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}
