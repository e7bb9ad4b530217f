/**
 * One scheduler per journal: a lease file `DIR/journal.lock` holding its owner, host, pid and
 * when it was last renewed. Made with O_CREAT|O_EXCL (atomic on NFSv3+ as on local disks),
 * renewed by writing a temporary file and renaming it over the lock (rename is atomic on NFS;
 * flock/fcntl locks are not dependable there). A lease not renewed for `leaseMs` is stale and
 * may be taken over; so is one whose owner is a dead process on this host. Clocks of the hosts
 * must agree to well within the lease (NTP); untried on a real NFS mount in our tests, which
 * run on one host.
 */
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, constants } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { JournalError } from "../errors.js";

export interface LeaseContent {
  owner: string;
  host: string;
  pid: number;
  /** ms since the epoch */
  renewedAt: number;
  leaseMs: number;
}

export const LOCK_FILE = "journal.lock";

function read(path: string): LeaseContent | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LeaseContent;
  } catch {
    return undefined; // gone, or being replaced: ask again
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Why the lease is free to take, or undefined while its holder keeps it. */
function stale(l: LeaseContent, now: number): string | undefined {
  if (now - l.renewedAt > l.leaseMs) return `its lease was last renewed ${now - l.renewedAt} ms ago (lease ${l.leaseMs} ms)`;
  if (l.host === hostname() && l.pid !== process.pid && !alive(l.pid)) return `its owner, pid ${l.pid} on this host, is dead`;
  return undefined;
}

export function describeHolder(l: LeaseContent, now = Date.now()): string {
  return `scheduler ${l.owner} on host ${l.host} (pid ${l.pid}), lease renewed ${now - l.renewedAt} ms ago (lease ${l.leaseMs} ms)`;
}

export class JournalLock {
  readonly path: string;
  readonly #content: LeaseContent;
  #timer: NodeJS.Timeout | undefined;
  /** What the last take-over said about the lease it took (for the log). */
  tookOver: string | undefined;

  private constructor(path: string, content: LeaseContent) {
    this.path = path;
    this.#content = content;
  }

  /**
   * Take the lease, waiting up to `waitMs` for a live holder's lease to lapse; then fail naming
   * the holder. `onLost` is called if another scheduler has taken it meanwhile (this one was
   * stalled past its lease): the caller must stop writing.
   */
  static async acquire(dir: string, o: { owner: string; leaseMs: number; waitMs: number; onLost: (why: string) => void }): Promise<JournalLock> {
    const path = join(dir, LOCK_FILE);
    const lock = new JournalLock(path, { owner: o.owner, host: hostname(), pid: process.pid, renewedAt: 0, leaseMs: o.leaseMs });
    const deadline = Date.now() + o.waitMs;
    for (;;) {
      if (lock.#create()) break;
      const held = read(path);
      const why = held ? stale(held, Date.now()) : undefined;
      if (held && why) {
        lock.#write();
        // two takers may rename at once: the last rename wins, and each reads back who that was
        await new Promise((r) => setTimeout(r, 50));
        if (read(path)?.owner === o.owner) {
          lock.tookOver = `took over the journal's lock from ${describeHolder(held)}: ${why}`;
          break;
        }
      }
      if (Date.now() >= deadline) {
        const now = read(path);
        throw new JournalError(
          `journal ${dir} is locked by ${now ? describeHolder(now) : "another scheduler"}: another scheduler runs on this journal (waited ${o.waitMs} ms; a lease not renewed for its lease time expires)`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(200, o.leaseMs / 4)));
    }
    lock.#timer = setInterval(() => {
      const now = read(path);
      if (now && now.owner !== o.owner) {
        clearInterval(lock.#timer);
        o.onLost(`another scheduler took the journal's lock: ${describeHolder(now)}`);
        return;
      }
      try {
        lock.#write();
      } catch {
        // a failed renewal is tried again next time; the lease outlasts a few misses
      }
    }, Math.max(50, o.leaseMs / 3)).unref();
    return lock;
  }

  #create(): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw new JournalError(`cannot create the journal's lock ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      writeSync(fd, JSON.stringify({ ...this.#content, renewedAt: Date.now() }));
    } finally {
      closeSync(fd);
    }
    return true;
  }

  /** Renew by rename: readers see the old lease or the new one, never half of one. */
  #write(): void {
    const tmp = `${this.path}.${this.#content.owner}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify({ ...this.#content, renewedAt: Date.now() }));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  /** Give the lease up (only if it is still ours). */
  release(): void {
    clearInterval(this.#timer);
    if (read(this.path)?.owner !== this.#content.owner) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
