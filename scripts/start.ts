/**
 * `npm start`: runs the service from JavaScript. The TypeScript in src/ and gen/ is transpiled to dist/
 * (esbuild, file by file, no bundling and no type check: what tsx did in memory on every start), only
 * the files whose source is newer than their output; then dist/src/main.js runs in this process.
 *
 * Why not `node --import tsx src/main.ts`: on Node 20 tsx's loader runs on a thread of its own, with its
 * own V8 heap, for the life of the process, and every module import is a round trip to it. That thread
 * was ~65 MB of an idle service on embedded defaults, and the round trips a good part of its start-up
 * (bench/startup). The image runs the same dist/src/main.js, built by tsc.
 *
 * This file is itself transpiled by the esbuild CLI into the `--eval` argument of `node` (package.json):
 * no file is written for it, so two starts of one checkout never read each other's half-written launcher.
 */
import { mkdir, readdir, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** npm runs scripts from the package's directory. */
const ROOT = process.cwd();
const OUT = join(ROOT, "dist");

/** Every .ts file below `dir` (declarations aside), relative to the repository. */
async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

/** Modification time in ms, or -1 when there is no such file. */
async function modified(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return -1;
  }
}

async function staleSources(): Promise<string[]> {
  const stale: string[] = [];
  for (const source of [...(await sources("src")), ...(await sources("gen"))]) {
    const output = join(OUT, source.replace(/\.ts$/, ".js"));
    if ((await modified(output)) < (await modified(join(ROOT, source)))) stale.push(join(ROOT, source));
  }
  return stale;
}

async function transpile(files: string[]): Promise<void> {
  if (files.length === 0) return;
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: files,
    outdir: OUT,
    outbase: ROOT,
    format: "esm",
    platform: "node",
    target: `node${process.versions.node.split(".")[0]}`,
    sourcemap: true,
    write: false,
    logLevel: "error",
  });
  // Each file is written beside its place and renamed into it: another `npm start` of the same tree
  // never imports half a file.
  for (const file of result.outputFiles) {
    await mkdir(dirname(file.path), { recursive: true });
    const partial = `${file.path}.${process.pid}.partial`;
    await writeFile(partial, file.contents);
    await rename(partial, file.path);
  }
}

await transpile(await staleSources());
// Stack traces name the TypeScript lines, as they did under tsx.
process.setSourceMapsEnabled(true);
await import(pathToFileURL(join(OUT, "src", "main.js")).href);
