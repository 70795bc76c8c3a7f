/**
 * A prepared PGlite cluster: what initdb leaves (and, for the service, its migrations), shut down
 * cleanly, kept in a cache directory once per PGlite version and preparation. A new data directory
 * starts as a copy of it (0.1-0.4 s for its 39 MB here) instead of running initdb in WebAssembly (10-13 s
 * on two cores, ~800 MB at its peak).
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import type { Logger } from "pino";
import { makePrivateDir, tighten } from "./private-dir.js";

/** Written last into a finished template: a directory without it is not one (a copy cut short). */
const MARKER = "dq-template.json";
/** Templates not used for this long are removed when another is made (each is ~40 MB). */
const UNUSED_TEMPLATE_MS = 30 * 24 * 3600 * 1000;
/** A staging directory this old belongs to a process that died while making a template. */
const ABANDONED_STAGING_MS = 24 * 3600 * 1000;
/** Files copied at once: copyFile runs on libuv's thread pool (4 threads by default). */
const COPY_CONCURRENCY = 8;

interface Marker {
  name: string;
}

/** The installed PGlite's version: another version may lay out (or initialise) its cluster differently. */
export async function pgliteVersion(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  // The package's entry is <package>/dist/index.cjs; its exports do not include package.json.
  const manifest = join(dirname(dirname(entry)), "package.json");
  const { version } = JSON.parse(await readFile(manifest, "utf8")) as { version: string };
  return version;
}

/** Whether `dir` holds a cluster already (PGlite's own test: PG_VERSION is there). */
export async function hasCluster(dir: string): Promise<boolean> {
  return exists(join(dir, "PG_VERSION"));
}

export interface EnsureTemplateOptions {
  cacheDir: string;
  /** The template's directory name: what made it (PGlite version, preparation). */
  name: string;
  /** Makes a cluster in the empty directory given, and shuts it down. */
  initialise(dir: string): Promise<void>;
  logger: Logger;
}

/**
 * The template `name` in `cacheDir`, made first when missing. Making it runs `initialise` in a private
 * staging directory and renames that into place, so a process reading the cache sees a whole template
 * or none; two processes making it at once both finish, and one rename wins.
 */
export async function ensureTemplate(options: EnsureTemplateOptions): Promise<{ dir: string; made: boolean }> {
  const { cacheDir, name, logger } = options;
  const dir = join(cacheDir, name);
  if (await isTemplate(dir, name)) {
    // Its marker's time says when it was last used (see pruning below); failing to update it is harmless.
    const now = new Date();
    await utimes(join(dir, MARKER), now, now).catch(() => undefined);
    return { dir, made: false };
  }

  await makePrivateDir(cacheDir);
  const staging = join(cacheDir, `.${name}-${randomBytes(6).toString("hex")}`);
  try {
    const started = performance.now();
    logger.info({ template: dir }, "preparing the embedded Postgres cluster once (this start takes longer)");
    await mkdir(staging, { mode: 0o700 });
    await options.initialise(staging);
    await writeFile(join(staging, MARKER), JSON.stringify({ name } satisfies Marker), { mode: 0o600 });
    await tighten(staging);
    try {
      await rename(staging, dir);
    } catch (error) {
      if (await isTemplate(dir, name)) {
        // Another process made it meanwhile: theirs is as good.
      } else if (await exists(dir)) {
        // A directory without the marker is no template (a leftover): replace it.
        await rm(dir, { recursive: true, force: true });
        await rename(staging, dir);
      } else {
        throw error;
      }
    }
    logger.info(
      { template: dir, ms: Math.round(performance.now() - started) },
      "prepared the embedded Postgres cluster once; new data directories start as a copy of it",
    );
    await prune(cacheDir, name, logger);
    return { dir, made: true };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Makes `dataDir` a copy of the template, when `dataDir` is missing or empty (otherwise it leaves it as
 * it is and returns false). The copy goes to a sibling first and is renamed into place, so a start that
 * is killed half-way never leaves a partial cluster behind for the next start to open.
 */
export async function copyTemplate(templateDir: string, dataDir: string): Promise<boolean> {
  if (!(await isEmptyOrMissing(dataDir))) return false;
  await mkdir(dirname(dataDir), { recursive: true });
  const staging = join(dirname(dataDir), `.${basename(dataDir)}-${randomBytes(6).toString("hex")}`);
  try {
    await copyTree(templateDir, staging);
    await rmdir(dataDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    await rename(staging, dataDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return true;
}

/**
 * Copies the tree at `from` to `to` (which must not exist), the marker aside. fs.cp visits one file at
 * a time through several awaits each (~1 s for the cluster's ~1,000 files here); copyFile on a few at
 * once is 3-5x quicker, and keeps the event loop free, unlike cpSync.
 */
async function copyTree(from: string, to: string): Promise<void> {
  const files: string[] = [];
  const walk = async (relative: string) => {
    await mkdir(join(to, relative), { mode: 0o700 });
    for (const entry of await readdir(join(from, relative), { withFileTypes: true })) {
      const path = join(relative, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && path !== MARKER) files.push(path);
    }
  };
  await walk("");
  let next = 0;
  const copier = async () => {
    while (next < files.length) {
      const path = files[next++];
      await copyFile(join(from, path), join(to, path));
    }
  };
  await Promise.all(Array.from({ length: COPY_CONCURRENCY }, copier));
}

/** Removes other templates unused for a month, and staging directories of makers that died. */
async function prune(cacheDir: string, keep: string, logger: Logger): Promise<void> {
  const now = Date.now();
  for (const entry of await readdir(cacheDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === keep) continue;
    const path = join(cacheDir, entry.name);
    const staging = entry.name.startsWith(".pglite-");
    if (!staging && !entry.name.startsWith("pglite-")) continue;
    const since = await stat(staging ? path : join(path, MARKER)).then(
      (stats) => stats.mtimeMs,
      () => 0,
    );
    if (now - since > (staging ? ABANDONED_STAGING_MS : UNUSED_TEMPLATE_MS)) {
      await rm(path, { recursive: true, force: true });
      logger.info({ removed: path }, "removed an unused prepared Postgres cluster from the cache");
    }
  }
}

async function isTemplate(dir: string, name: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER), "utf8")) as Marker;
    return marker.name === name && (await hasCluster(dir));
  } catch {
    return false;
  }
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
