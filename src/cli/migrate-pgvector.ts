/**
 * `npm run migrate-pgvector -- [--dry-run | --verify | --cutover | --rollback] [options]`: moves the
 * vectors of an installation that kept them in a pgvector column into Qdrant, without re-embedding.
 * The command lives in `src/pgvector/command.ts`; this file wires it to the process: its environment,
 * its streams, and SIGINT/SIGTERM (first: stop at the next batch boundary; second: exit at once).
 */
import { runMigratePgvectorCommand } from "../pgvector/command.js";
import { processEnv } from "../config.js";

const controller = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (controller.signal.aborted) {
    process.stderr.write(`\nreceived ${signal} again: exiting now; the next run resumes where this one stopped\n`);
    process.exit(130);
  }
  process.stderr.write(`\nreceived ${signal}: finishing the current batch, then stopping (again to exit at once)\n`);
  controller.abort();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

runMigratePgvectorCommand(process.argv.slice(2), {
  env: processEnv(),
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
}).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`migrate-pgvector failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
