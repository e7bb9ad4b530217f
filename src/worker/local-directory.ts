/**
 * Worker directories: each worker's private directory for spilled data, inside the local
 * directory (`--local-directory`, else the OS temp directory), which many users and many
 * workers share on a compute node.
 *
 * Private. The directory is made by mkdtemp (a fresh name nobody can guess or create first,
 * mode 0700); its files are 0600. The local directory must be this user's or root's, and if
 * others may write in it, sticky (as /tmp is): in any other directory another user could move
 * our directory away and put one of theirs in its place. A symlink given as the local directory
 * must be ours or root's too (whoever owns it can re-point it). A local directory that does not
 * exist yet is created 0700. Anything else is refused, naming the path and what is wrong.
 *
 * Purge, without lock files or native code: the directory's name says who owns it,
 * `dask-worker-<host>.<pidns>-<pid>-<start>-XXXXXX`: the host, the PID namespace, the owner's
 * PID and its start time (clock ticks since boot, /proc/<pid>/stat), which a reused PID does
 * not share. A worker starting in a local directory (and a nanny whose worker died) removes the
 * directories of this host and PID namespace whose owner is no longer running, if they are
 * this user's and real directories (not symlinks). Directories of other hosts (a local
 * directory on a shared file system), other namespaces (containers) or other users are left
 * alone. The name exists from the moment the directory does, so there is no window in which a
 * live worker's directory looks ownerless. Without /proc, the start time is 0 and liveness is
 * the PID's alone.
 */
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { ConfigError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { privateDirectory } from "../files.js";

const PREFIX = "dask-worker-";
/** `<pid>-<start>-` and mkdtemp's six characters, after the scope. */
const OWNER = /^(\d+)-(\d+)-[A-Za-z0-9]{6}$/;

/** This host and PID namespace, as they appear in a directory name. */
function scope(): string {
  let ns = "0";
  try {
    ns = /\d+/.exec(readlinkSync("/proc/self/ns/pid"))?.[0] ?? "0";
  } catch {
    // no /proc: one namespace as far as we can tell
  }
  return `${hostname().replace(/[^A-Za-z0-9.-]/g, "_")}.${ns}`;
}

/** Field 22 of /proc/<pid>/stat: the start time, counted from after the last ")" (the command may hold spaces). */
function startField(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

/** This process's start time in clock ticks since boot, "0" without /proc. */
function ownStart(): string {
  try {
    return startField(readFileSync("/proc/self/stat", "utf8")) ?? "0";
  } catch {
    return "0";
  }
}

/** Whether the process that made a directory is still running; when unsure, it is. */
function ownerRunning(pid: number, start: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // a zombie (killed, not yet reaped by its parent) runs no more
    return startField(stat) === start && stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return true;
  }
  if (start !== "0") return false; // made where /proc is, and the PID is gone
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A new private directory for this worker process inside `parent` (created 0700 if missing),
 * after purging the directories of dead workers there. Throws ConfigError when `parent` is not
 * safe (see the top of this file) or cannot hold a directory.
 */
export function createWorkerDirectory(parent: string): string {
  let real: string;
  try {
    real = privateDirectory(parent, "local directory", "spilled data");
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  purgeDeadWorkerDirectories(real);
  try {
    return mkdtempSync(path.join(real, `${PREFIX}${scope()}-${process.pid}-${ownStart()}-`));
  } catch (err) {
    throw new ConfigError(`local directory ${parent} is not writable (${describeError(err)})`, { cause: err });
  }
}

/**
 * Remove the directories in `parent` of this host's workers that are no longer running (and
 * are this user's real directories); returns those removed. Never throws: a directory that
 * cannot be removed is logged and left.
 */
export function purgeDeadWorkerDirectories(parent: string): string[] {
  const uid = process.getuid?.() ?? 0;
  const mine = `${PREFIX}${scope()}-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const owner = name.startsWith(mine) ? OWNER.exec(name.slice(mine.length)) : null;
    if (!owner || ownerRunning(Number(owner[1]), owner[2])) continue;
    const dir = path.join(parent, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (err) {
      logger("worker").warn({ dir, err: describeError(err) }, "could not remove a dead worker's directory");
    }
  }
  if (removed.length) logger("worker").info({ dirs: removed, reason: "their workers are no longer running" }, "removed dead workers' directories");
  return removed;
}
