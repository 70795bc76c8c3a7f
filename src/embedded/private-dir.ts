import { chmod, lstat, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Group and other may neither write nor read anything the embedded stores create. */
const PRIVATE_UMASK = 0o077;

/**
 * Makes `dir` (created if missing) private to this user: the directory 0700, every file and folder
 * below it stripped of group and other permissions (PGlite's file system layer asks for 0777 and a
 * permissive umask used to leave pg_hba.conf world-writable), and the process umask tightened so files
 * created later are private too.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  process.umask(process.umask() | PRIVATE_UMASK);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await tighten(dir);
}

/**
 * Strips group and other permissions from everything below `dir`. PGlite's Emscripten file system sets
 * modes itself (0666 files, whatever the umask), so the embedded Postgres calls this after start and
 * after stop; in between, the 0700 directory is what keeps others out. The entries of a directory are
 * visited at once: a cluster is ~1,000 files, and one lstat after another held a start ~0.2 s.
 */
export async function tighten(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.map(async (entry) => {
      const path = join(dir, entry.name);
      if (entry.isSymbolicLink()) return;
      const { mode } = await lstat(path);
      if ((mode & PRIVATE_UMASK) !== 0) await chmod(path, mode & 0o700);
      if (entry.isDirectory()) await tighten(path);
    }),
  );
}
