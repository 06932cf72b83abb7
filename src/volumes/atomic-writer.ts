import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';

/**
 * Kubelet's AtomicWriter: the files of a configMap, secret, downwardAPI or projected volume,
 * replaced as a whole so a reader never sees half an update. The layout is kubelet's, which
 * applications rely on (they watch `..data` with inotify to learn of updates):
 *
 *   <target>/..2026_11_25_10_00_00.Ab12Cd/   the payload (a new directory for every update)
 *   <target>/..data -> ..2026_11_25_10_00_00.Ab12Cd
 *   <target>/<name> -> ..data/<name>          one per top-level entry of the payload
 *
 * An update writes a new timestamped directory, points `..data_tmp` at it and renames that over
 * `..data`: one rename(2), so the switch is atomic for readers going through the symlinks. Then
 * the top-level links are added or removed and the old directory deleted. The decision of what to
 * do (`planWrite`) is pure; `writeAtomically` reads the directory, plans and carries the plan out.
 */

export interface FileProjection {
  data: Buffer;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

export type Payload = ReadonlyMap<string, FileProjection>;

const dataDirName = '..data';
const newDataDirName = '..data_tmp';
const maxFileNameLength = 255;
const maxPathLength = 4096;

/** Why a payload path is invalid, in kubelet's words; undefined when it is fine. */
export function validatePayloadPath(path: string): string | undefined {
  if (path === '') return 'invalid path: must not be empty: ""';
  if (path.startsWith('/')) return `invalid path: must be relative path: ${path}`;
  if (path.length > maxPathLength) return `invalid path: must be less than or equal to ${maxPathLength} characters`;
  const items = path.split('/');
  for (const item of items) {
    if (item === '..') return `invalid path: must not contain '..': ${path}`;
    if (item.length > maxFileNameLength) return `invalid path: filenames must be less than or equal to ${maxFileNameLength} characters`;
  }
  // `..data`, `..data_tmp` and the timestamped directories live at the top: reserved names.
  if ((items[0] ?? '').startsWith('..') && (items[0] ?? '').length > 2) return `invalid path: must not start with '..': ${path}`;
  return undefined;
}

/**
 * The payload with its paths validated and cleaned ("a//b/" is "a/b"), as kubelet's
 * validatePayload does. Throws on the first invalid path or on two paths that clean to the same.
 */
export function cleanPayload(files: Payload): Map<string, FileProjection> {
  const clean = new Map<string, FileProjection>();
  for (const [path, content] of files) {
    const problem = validatePayloadPath(path);
    if (problem) throw new Error(problem);
    const cleaned = posix.normalize(path).replace(/\/+$/, '');
    // normalize() can only shorten "a/./b" and "a//b"; "." alone would be the volume root itself.
    if (cleaned === '.' || cleaned === '') throw new Error(`invalid path: must name a file: ${path}`);
    // "./..data" passes the check above but cleans to "..data": writing it would replace the live
    // link with one into itself and break every key of the volume (ELOOP). Reserved after cleaning too.
    if (topLevelName(cleaned).startsWith('..')) throw new Error(`invalid path: ${path} names ${topLevelName(cleaned)}, which is reserved for the volume's own links`);
    if (clean.has(cleaned)) throw new Error(`invalid path: ${path} names the same file as another path`);
    clean.set(cleaned, content);
  }
  // A file and a directory cannot share a name: "a" and "a/b" together cannot be written.
  for (const path of clean.keys()) {
    for (let parent = posix.dirname(path); parent !== '.'; parent = posix.dirname(parent)) {
      if (clean.has(parent)) throw new Error(`invalid path: ${parent} is both a file and the directory of ${path}`);
    }
  }
  return clean;
}

/** The first component of a payload path: the name a top-level symlink carries. */
export function topLevelName(path: string): string {
  const slash = path.indexOf('/');
  return slash === -1 ? path : path.slice(0, slash);
}

/** What the target directory holds now, as much as the plan needs. */
export interface CurrentState {
  /** Where `..data` points (a directory name in the target), or undefined when there is no `..data`. */
  dataDir: string | undefined;
  /** The regular files under the current data directory; undefined when it could not be read. */
  files: ReadonlyMap<string, FileProjection> | undefined;
  /** The data directory holds something other than regular files and directories. */
  unexpectedEntries: boolean;
  /** Entries of the target not starting with "..": name -> symlink target, or null when not a symlink. */
  visible: ReadonlyMap<string, string | null>;
  /** Entries starting with ".." besides `..data` and the current data directory: leftovers of an interrupted write. */
  leftovers: readonly string[];
}

export interface WritePlan {
  /** Write the payload to a new timestamped directory and switch `..data` to it. */
  writeData: boolean;
  /** Top-level names to (re)create as `<name> -> ..data/<name>`. */
  createLinks: string[];
  /** Top-level links to remove: they point into `..data` but the payload no longer has the name. */
  removeLinks: string[];
  /** Leftover `..` entries to delete before anything else. */
  removeLeftovers: string[];
  /** The data directory that becomes unreferenced after the switch. */
  removeOldDataDir: string | undefined;
}

/** True when the plan leaves the directory exactly as it is. */
export function isNoop(plan: WritePlan): boolean {
  return !plan.writeData && plan.createLinks.length === 0 && plan.removeLinks.length === 0 && plan.removeLeftovers.length === 0;
}

function samePayload(a: ReadonlyMap<string, FileProjection>, b: ReadonlyMap<string, FileProjection>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, content] of a) {
    const other = b.get(path);
    if (!other || (other.mode & 0o7777) !== (content.mode & 0o7777) || !other.data.equals(content.data)) return false;
  }
  return true;
}

/**
 * What to do to make the target hold `payload` (already cleaned). The data is rewritten when any
 * file's content or mode differs or a file is to go; kubelet compares content only, but a mode
 * change must reach the disk too, and comparing it costs nothing.
 */
export function planWrite(payload: ReadonlyMap<string, FileProjection>, current: CurrentState): WritePlan {
  const writeData = current.dataDir === undefined || current.files === undefined || current.unexpectedEntries || !samePayload(payload, current.files);
  const wanted = new Set([...payload.keys()].map(topLevelName));
  const createLinks = [...wanted].filter((name) => current.visible.get(name) !== posix.join(dataDirName, name)).sort();
  const removeLinks = [...current.visible]
    .filter(([name, target]) => !wanted.has(name) && target !== null && target.startsWith(`${dataDirName}/`))
    .map(([name]) => name)
    .sort();
  return {
    writeData,
    createLinks,
    removeLinks,
    removeLeftovers: [...current.leftovers].sort(),
    removeOldDataDir: writeData ? current.dataDir : undefined,
  };
}

/** Regular files (with content and permission bits) below `dir`, keyed by relative path. */
async function readTree(dir: string): Promise<{ files: Map<string, FileProjection>; unexpected: boolean }> {
  const files = new Map<string, FileProjection>();
  let unexpected = false;
  async function walk(rel: string): Promise<void> {
    for (const entry of await readdir(posix.join(dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const full = posix.join(dir, path);
        const [data, info] = await Promise.all([readFile(full), lstat(full)]);
        files.set(path, { data, mode: info.mode & 0o7777 });
      } else unexpected = true;
    }
  }
  await walk('');
  return { files, unexpected };
}

/**
 * The names this writer gives its data directories: the timestamp prefix and mkdtemp's six
 * random characters. Nothing else is ever taken for a data directory.
 */
const dataDirPattern = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.[A-Za-z0-9]{6}$/;

/** Whether `name` is one of this writer's data directory names. */
export function isDataDirName(name: string): boolean {
  return dataDirPattern.test(name);
}

/**
 * Where `..data` points, when it is the link this writer made: a symlink naming one of its data
 * directories, which is a real directory in the target (not a symlink to somewhere else). Anything
 * else (`..data -> ..`, `..data -> /etc`, a link to a planted symlink) was not made here: the plan
 * then writes fresh data and replaces the link, and deletes nothing the link names, because the
 * clean-up of the old data directory runs as root and would follow it.
 */
async function ownDataDir(targetDir: string): Promise<string | undefined> {
  const link = posix.join(targetDir, dataDirName);
  const info = await lstat(link).catch(() => undefined);
  if (!info?.isSymbolicLink()) return undefined;
  const name = await readlink(link).catch(() => undefined);
  if (name === undefined || !isDataDirName(name)) return undefined;
  const dir = await lstat(posix.join(targetDir, name)).catch(() => undefined);
  return dir?.isDirectory() ? name : undefined;
}

/** Reads the target directory into a CurrentState. The directory must exist. */
export async function readCurrentState(targetDir: string): Promise<CurrentState> {
  const dataDir = await ownDataDir(targetDir);
  let files: Map<string, FileProjection> | undefined;
  let unexpectedEntries = false;
  if (dataDir !== undefined) {
    try {
      const tree = await readTree(posix.join(targetDir, dataDir));
      files = tree.files;
      unexpectedEntries = tree.unexpected;
    } catch {
      files = undefined;
    }
  }
  const visible = new Map<string, string | null>();
  const leftovers: string[] = [];
  for (const entry of await readdir(targetDir, { withFileTypes: true })) {
    if (entry.name.startsWith('..')) {
      if (entry.name !== dataDirName && entry.name !== dataDir) leftovers.push(entry.name);
    } else {
      visible.set(entry.name, entry.isSymbolicLink() ? await readlink(posix.join(targetDir, entry.name)) : null);
    }
  }
  return { dataDir, files, unexpectedEntries, visible, leftovers };
}

/** `..2006_01_02_15_04_05.` as Go formats it for kubelet's timestamped directories (UTC). */
export function timestampPrefix(now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

/**
 * Makes `targetDir` (created if missing) hold exactly `files`, kubelet's way. Returns whether
 * anything on disk changed; an unchanged payload touches nothing. Not safe to run twice at once
 * on the same directory: callers serialize (the volume manager does, per pod).
 */
export async function writeAtomically(targetDir: string, files: Payload, options: { now?: () => Date } = {}): Promise<{ changed: boolean }> {
  const payload = cleanPayload(files);
  await mkdir(targetDir, { recursive: true });
  const current = await readCurrentState(targetDir);
  const plan = planWrite(payload, current);
  if (isNoop(plan)) return { changed: false };

  for (const name of plan.removeLeftovers) await rm(posix.join(targetDir, name), { recursive: true, force: true });

  if (plan.writeData) {
    // mkdtemp adds a random suffix, so two updates in the same second still get distinct names.
    const tsDir = await mkdtemp(posix.join(targetDir, timestampPrefix((options.now ?? (() => new Date()))())));
    const tsName = posix.basename(tsDir);
    try {
      // mkdtemp makes 0700; group and other must be able to traverse (a container may run as anyone).
      await chmod(tsDir, 0o755);
      for (const [path, content] of payload) {
        const full = posix.join(tsDir, path);
        await mkdir(posix.dirname(full), { recursive: true, mode: 0o755 });
        await writeFile(full, content.data, { mode: content.mode });
        // The umask applies at creation; the mode asked for must be the mode on disk.
        await chmod(full, content.mode);
      }
      const tmpLink = posix.join(targetDir, newDataDirName);
      await symlink(tsName, tmpLink);
      // rename(2) cannot put a symlink over a directory: a `..data` that is not a link is not ours
      // either, and goes (it is inside the target; rm removes links inside it, never what they name).
      const existing = await lstat(posix.join(targetDir, dataDirName)).catch(() => undefined);
      if (existing && !existing.isSymbolicLink()) await rm(posix.join(targetDir, dataDirName), { recursive: true, force: true });
      // The one step readers can observe: ..data now names the new directory.
      await rename(tmpLink, posix.join(targetDir, dataDirName));
    } catch (err) {
      await rm(posix.join(targetDir, newDataDirName), { force: true });
      await rm(tsDir, { recursive: true, force: true });
      throw err;
    }
  }

  for (const name of plan.createLinks) {
    const link = posix.join(targetDir, name);
    // Only a wrong or foreign entry is in the way here (a missing one is the usual case).
    await rm(link, { recursive: true, force: true });
    await symlink(posix.join(dataDirName, name), link);
  }
  for (const name of plan.removeLinks) await rm(posix.join(targetDir, name), { force: true });
  if (plan.removeOldDataDir !== undefined) await rm(posix.join(targetDir, plan.removeOldDataDir), { recursive: true, force: true });
  return { changed: true };
}
