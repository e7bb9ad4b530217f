/**
 * Files and directories that hold private data (spilled values, the scheduler's journal and
 * checkpoints) on nodes many users share. A directory must be this user's or root's, and if
 * others may write in it, sticky (as /tmp is), or another user could move our files away and
 * put theirs in their place. A symlink given as the directory must be ours or root's too
 * (whoever owns it can re-point it).
 */
import { type Stats, lstatSync, mkdirSync, realpathSync, statSync, writeSync } from "node:fs";
import { describeError } from "./errors.js";

/**
 * What makes `dir` (its lstat, and its stat if a symlink) unsafe to keep private data in for
 * user `uid`, or undefined when it is safe. `what`: the directory's name in the message; `holds`:
 * what another user could read or replace. Pure.
 */
export function unsafeDirectory(dir: string, link: Pick<Stats, "uid" | "isSymbolicLink">, target: Pick<Stats, "uid" | "mode" | "isDirectory">, uid: number, what = "local directory", holds = "spilled data"): string | undefined {
  const ours = (owner: number) => owner === uid || owner === 0;
  if (link.isSymbolicLink() && !ours(link.uid)) return `${what} ${dir} is a symlink owned by uid ${link.uid}, not by this user (${uid}) or root: its owner can re-point it`;
  if (!target.isDirectory()) return `${what} ${dir} is not a directory`;
  if (!ours(target.uid)) return `${what} ${dir} is owned by uid ${target.uid}, not by this user (${uid}) or root: its owner could read or replace ${holds}`;
  if ((target.mode & 0o022) !== 0 && (target.mode & 0o1000) === 0) {
    return `${what} ${dir} (mode ${(target.mode & 0o777).toString(8)}) is writable by other users and not sticky: they could replace ${holds} (chmod go-w or chmod +t it)`;
  }
  return undefined;
}

/**
 * Make `dir` if missing (0700, parents too) and check it is safe (`unsafeDirectory`); returns its
 * real path, or throws an Error naming the directory and what is wrong (callers wrap it in
 * their own error type).
 */
export function privateDirectory(dir: string, what: string, holds: string): string {
  let real: string;
  let link: Stats;
  let target: Stats;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    link = lstatSync(dir);
    real = realpathSync(dir);
    target = statSync(real);
  } catch (err) {
    throw new Error(`${what} ${dir} cannot be used (${describeError(err)})`, { cause: err });
  }
  const problem = unsafeDirectory(dir, link, target, process.getuid?.() ?? 0, what, holds);
  if (problem) throw new Error(problem);
  return real;
}

/** Write all of `buf` to `fd`: one write(2) moves at most 2 GiB - 4 KiB, and may move less. */
export function writeAllSync(fd: number, buf: Uint8Array): void {
  for (let off = 0; off < buf.byteLength; ) off += writeSync(fd, buf, off, buf.byteLength - off);
}
