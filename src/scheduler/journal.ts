/**
 * The scheduler's journal on disk (the I/O shell over journal-codec.ts and journal-state.ts):
 *
 *   DIR/journal.lock          the lease (journal-lock.ts): one scheduler per journal
 *   DIR/journal-<gen>.log     header + records; the highest generation is the journal
 *   DIR/checkpoints/<sha256>  results written for { checkpoint: true } tasks (by the workers),
 *                             named by key and computation (checkpointPath)
 *
 * Records are appended to memory and written in groups: one write and one fdatasync per group
 * (every `syncMs`, or sooner past 4 MiB); `durable()` resolves once everything appended so far
 * is on disk, so a reply that promises durability waits for it. When what was written since the
 * last compaction outgrows the live state, the live state is written as a snapshot to the next
 * generation (a temporary file renamed into place), and the older generation is removed.
 */
import { createHash } from "node:crypto";
import { accessSync, closeSync, constants, fsyncSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { JournalError } from "../errors.js";
import { privateDirectory, writeAllSync } from "../files.js";
import { functionIdentity } from "../protocol/functions.js";
import type { TaskSpec, WireFunction } from "../protocol/messages.js";
import { JournalDecodeError, decodeJournal, encodeHeader, encodeRecord } from "./journal-codec.js";
import { JournalLock } from "./journal-lock.js";
import { type JournalTask, type JournalTaskOptions, JournalState, SCATTERED } from "./journal-state.js";

export interface JournalOptions {
  /** Who writes (the scheduler's id), for the lock. */
  owner: string;
  /** The lock's lease (default 10 s). */
  leaseMs?: number;
  /** How long to wait for a live holder's lease (default: the lease and a half). */
  lockWaitMs?: number;
  /** Group-sync interval (default 20 ms). */
  syncMs?: number;
  /** Another scheduler took the lock (this one stalled past its lease): stop. */
  onLockLost?: (why: string) => void;
}

const GROUP_BYTES = 4 << 20;
const COMPACT_MIN_BYTES = 8 << 20;
const FILE_RE = /^journal-(\d+)\.log$/;

/**
 * The checkpoint file of `key` made by the computation `fingerprint` (checkpoint-fingerprint.ts)
 * in journal directory `dir`: another computation under the same key has another file.
 */
export function checkpointPath(dir: string, key: string, fingerprint: string): string {
  return join(dir, "checkpoints", createHash("sha256").update(`${key}\0${fingerprint}`).digest("hex"));
}

function journalFiles(dir: string): Array<{ gen: number; name: string }> {
  return readdirSync(dir)
    .map((name) => ({ name, m: FILE_RE.exec(name) }))
    .filter((f) => f.m)
    .map((f) => ({ gen: Number(f.m![1]), name: f.name }))
    .sort((a, b) => b.gen - a.gen);
}

export class Journal {
  readonly dir: string;
  /** The durable facts (replayed at open, kept current by every append). */
  state: JournalState;
  /** A torn last record was found at open (and cut off), at this offset of `file`. */
  readonly torn: { file: string; offset: number } | undefined;
  readonly lock: JournalLock;
  readonly replayed: number;
  #gen: number;
  #fh: FileHandle;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #waiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #sinceCompaction = 0;
  #lastSnapshotBytes = 0;
  #syncMs: number;
  #fnIds = new Map<string, number>();
  #workerIds = new Map<string, number>();
  #nextId = 1;
  #closed = false;
  /** Bytes written to the journal by this process (the bench's bytes per task). */
  written = 0;
  #failed: Error | undefined;

  private constructor(dir: string, lock: JournalLock, state: JournalState, replayed: number, torn: Journal["torn"], gen: number, fh: FileHandle, syncMs: number) {
    this.dir = dir;
    this.lock = lock;
    this.state = state;
    this.replayed = replayed;
    this.torn = torn;
    this.#gen = gen;
    this.#fh = fh;
    this.#syncMs = syncMs;
  }

  /**
   * Open (or create) the journal in `dir`: check it can be written, take the lock, replay the
   * newest generation (cutting off a torn last record), and start a fresh generation with the
   * live state as its snapshot. Throws JournalError naming the directory or file.
   */
  static async open(dir: string, o: JournalOptions): Promise<Journal> {
    try {
      // it holds every task's function, arguments and errors, and checkpoints hold results
      privateDirectory(dir, "journal directory", "the journal (replayed by the next scheduler)");
      privateDirectory(join(dir, "checkpoints"), "checkpoint directory", "checkpointed results");
      accessSync(dir, constants.W_OK);
    } catch (err) {
      throw new JournalError(`journal directory ${dir} cannot be written: ${(err as Error).message}`, { cause: err });
    }
    const leaseMs = o.leaseMs ?? 10_000;
    const lock = await JournalLock.acquire(dir, { owner: o.owner, leaseMs, waitMs: o.lockWaitMs ?? leaseMs * 1.5, onLost: (why) => o.onLockLost?.(why) });
    try {
      const state = new JournalState();
      let replayed = 0;
      let torn: Journal["torn"];
      const files = journalFiles(dir);
      const newest = files[0];
      if (newest) {
        const file = join(dir, newest.name);
        const bytes = readFileSync(file);
        let decoded;
        try {
          decoded = decodeJournal(bytes);
        } catch (err) {
          if (err instanceof JournalDecodeError) throw new JournalError(`journal file ${file}: ${err.message} (offset ${err.offset})`, { cause: err });
          throw err;
        }
        for (const [i, rec] of decoded.records.entries()) {
          try {
            state.apply(rec);
          } catch (err) {
            throw new JournalError(`journal file ${file}: record ${i}: ${(err as Error).message}`, { cause: err });
          }
        }
        replayed = decoded.records.length;
        if (decoded.torn) torn = { file, offset: decoded.end };
      }
      const gen = (newest?.gen ?? 0) + 1;
      const j = new Journal(dir, lock, new JournalState(), replayed, torn, gen, undefined as unknown as FileHandle, o.syncMs ?? 20);
      // the next generation starts with the live state; the old files go once it is on disk
      j.#fh = await j.#writeGeneration(gen, state);
      for (const f of files) unlinkSync(join(dir, f.name));
      return j;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Write generation `gen` = header + snapshot of `from` (renumbered), return it open for appends. */
  async #writeGeneration(gen: number, from: JournalState): Promise<FileHandle> {
    const snap = from.snapshot();
    const state = new JournalState();
    state.apply(["s", snap]);
    this.state = state;
    // numbering continues from the snapshot's
    this.#fnIds.clear();
    this.#workerIds.clear();
    let max = 0;
    for (const [id, w] of snap.functions) {
      this.#fnIds.set(functionIdentity(w), id);
      max = Math.max(max, id);
    }
    for (const [id, a] of snap.workers) {
      this.#workerIds.set(a, id);
      max = Math.max(max, id);
    }
    this.#nextId = Math.max(this.#nextId, max + 1);
    const header = encodeHeader();
    const body = encodeRecord(["s", snap]);
    const final = join(this.dir, `journal-${gen}.log`);
    const tmp = `${final}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeAllSync(fd, header);
      writeAllSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
    this.#syncDir();
    this.#lastSnapshotBytes = body.length;
    this.#sinceCompaction = 0;
    this.written += header.length + body.length;
    return open(final, "a");
  }

  #syncDir(): void {
    try {
      const fd = openSync(this.dir, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // not every file system syncs directories
    }
  }

  // ---- appending ----------------------------------------------------------------------------

  #append(rec: unknown[]): void {
    if (this.#closed) return;
    // the completions gathered go first: a record after them may undo them (the key submitted
    // again with another computation, released, cancelled; its worker leaving)
    this.#writeDone();
    this.state.apply(rec);
    const b = encodeRecord(rec);
    this.#pending.push(b);
    this.#pendingBytes += b.length;
    if (this.#pendingBytes >= GROUP_BYTES) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), this.#syncMs);
  }

  /** A graph as submitted: `functions` are the message's, tasks name them by index. */
  graph(client: string, functions: readonly WireFunction[], tasks: readonly TaskSpec[], checkpointAll: boolean): void {
    const ids = functions.map((w) => {
      const identity = functionIdentity(w);
      let id = this.#fnIds.get(identity);
      if (id === undefined) {
        this.#fnIds.set(identity, (id = this.#nextId++));
        this.#append(["f", id, w]);
      }
      return id;
    });
    const out: JournalTask[] = new Array(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i]! as TaskSpec & { checkpoint?: boolean };
      let opts: JournalTaskOptions | undefined;
      if (t.priority || t.retries || t.workers || t.resources || t.checkpoint || checkpointAll) {
        opts = {};
        if (t.priority) opts.priority = t.priority;
        if (t.retries) opts.retries = t.retries;
        if (t.workers) opts.workers = t.workers;
        if (t.allowOtherWorkers) opts.allowOtherWorkers = t.allowOtherWorkers;
        if (t.resources) opts.resources = t.resources;
        if (t.checkpoint || checkpointAll) opts.checkpoint = true;
      }
      out[i] = opts ? [t.key, ids[t.fn as number]!, t.args, t.deps, opts] : [t.key, ids[t.fn as number]!, t.args, t.deps];
    }
    this.#append(["g", client, out]);
  }

  /** Data a client scattered, new to the scheduler (its holders: finished()). */
  scattered(client: string, keys: string[]): void {
    this.#append(["g", client, keys.map((k): JournalTask => [k, SCATTERED, [], []])]);
  }

  /**
   * A completion. Completions are the most frequent record: a run of them is gathered and
   * written as one ["D", [[key, workerId, nbytes], ...]] record, before the next record of any
   * other kind or at the group's end, and applied to the state at once.
   */
  finished(key: string, worker: string, nbytes: number): void {
    if (this.#closed) return;
    let id = this.#workerIds.get(worker);
    if (id === undefined) {
      this.#workerIds.set(worker, (id = this.#nextId++));
      this.#append(["w", id, worker]);
    }
    this.state.completed(key, id, nbytes);
    this.#done.push([key, id, nbytes]);
    this.#timer ??= setTimeout(() => void this.#flush(), this.#syncMs);
  }

  #done: Array<[string, number, number]> = [];

  /** The gathered completions as one record (not applied again: finished() did). */
  #writeDone(): void {
    if (!this.#done.length) return;
    const b = encodeRecord(["D", this.#done]);
    this.#done = [];
    this.#pending.push(b);
    this.#pendingBytes += b.length;
  }

  workerLeft(worker: string): void {
    const id = this.#workerIds.get(worker);
    if (id === undefined) return;
    this.#workerIds.delete(worker);
    this.#append(["wx", id]);
  }

  erred(key: string, error: unknown): void {
    this.#append(["e", key, error]);
  }

  /** Erred keys run again: their errors are cleared. */
  retried(keys: string[]): void {
    this.#append(["y", keys]);
  }

  /** `client` wants keys the journal already has (a dataset's, a reconnected client's). */
  want(client: string, keys: string[]): void {
    this.#append(["ww", client, keys]);
  }

  released(client: string, keys: string[]): void {
    this.#append(["r", client, keys]);
  }

  clientLeft(client: string): void {
    this.#append(["c", client]);
  }

  /** Keys cancelled, with their dependents (null: all, a restart). */
  cancelled(keys: string[] | null): void {
    this.#append(["n", keys]);
  }

  checkpointed(key: string): void {
    if (!this.state.checkpoints.has(key)) this.#append(["k", key]);
  }

  /** An extension's state under `name` (null: gone). */
  ext(extension: string, name: string, value: unknown): void {
    this.#append(["x", extension, name, value]);
  }

  /** Resolves once every record appended so far is on disk. */
  durable(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#pending.length && !this.#done.length) {
      // everything appended is in the group being written: that write's end is enough
      const flight = this.#flushing;
      return flight ? flight.then(() => (this.#failed ? Promise.reject(this.#failed) : undefined)) : Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push(() => (this.#failed ? reject(this.#failed) : resolve()));
      if (!this.#flushing) void this.#flush();
    });
  }

  /** Like durable(), but waits for the group sync that is due instead of starting one now. */
  synced(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#pending.length && !this.#done.length) return this.durable();
    return new Promise((resolve, reject) => {
      this.#waiters.push(() => (this.#failed ? reject(this.#failed) : resolve()));
      this.#timer ??= setTimeout(() => void this.#flush(), this.#syncMs);
    });
  }

  /** Write and sync what is pending, one group at a time. */
  async #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#flushing) await this.#flushing;
    this.#writeDone();
    if (!this.#pending.length) {
      this.#wake();
      return;
    }
    const group = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#flushing = (async () => {
      try {
        // one write may move less than asked (a full disk): what is acknowledged must all be there
        for (let off = 0; off < group.length; ) off += (await this.#fh.write(group, off, group.length - off)).bytesWritten;
        await this.#fh.datasync();
        this.written += group.length;
        this.#sinceCompaction += group.length;
        if (this.#sinceCompaction > Math.max(COMPACT_MIN_BYTES, 2 * this.#lastSnapshotBytes)) await this.#compact();
      } catch (err) {
        this.#failed ??= new JournalError(`cannot write the journal in ${this.dir}: ${(err as Error).message}`, { cause: err });
      }
    })();
    await this.#flushing;
    this.#flushing = undefined;
    for (const w of waiters) w();
    if ((this.#pending.length || this.#done.length) && !this.#timer) this.#timer = setTimeout(() => void this.#flush(), this.#syncMs);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** The live state to the next generation; the old one goes. */
  async #compact(): Promise<void> {
    const old = this.#fh;
    const oldName = join(this.dir, `journal-${this.#gen}.log`);
    this.#fh = await this.#writeGeneration(++this.#gen, this.state);
    await old.close();
    unlinkSync(oldName);
  }

  /** Flush, sync and release the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.durable().catch(() => {});
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#fh.close().catch(() => {});
    this.lock.release();
  }

  /** Crash stand-in for tests: stop without flushing or releasing anything. */
  abandon(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
