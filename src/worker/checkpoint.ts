/**
 * Checkpoints (issue 16): a task's result written to the file a journaled scheduler names in
 * its compute-task, so that a later run submitting the same key loads it instead of computing
 * it. The file is written to a temporary name and renamed into place (a reader sees a whole
 * checkpoint or none); it holds the key too, so a file that is not this key's is not believed.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { decode, encode } from "../protocol/msgpack.js";
import type { Found, Stored } from "./data-store.js";

const MAGIC = "dask-mpi-ts checkpoint 1";

/** The key's checkpointed value, or undefined when there is none (or it is not this key's). */
export async function readCheckpoint(path: string, key: string): Promise<Stored | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const v = decode(bytes) as [string, string, Uint8Array[]] | undefined;
  if (!Array.isArray(v) || v[0] !== MAGIC || v[1] !== key || !Array.isArray(v[2])) return undefined;
  return v[2].map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
}

export async function writeCheckpoint(path: string, key: string, value: Stored): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, encode([MAGIC, key, value]), { flush: true, mode: 0o600 }); // a result: private
  await rename(tmp, path);
}

/** What a checkpointed task starts from: its dependencies, and its result if its file had it (or why the file could not be read). */
export interface Checkpointed {
  found: Found;
  loaded?: Stored;
  unreadable?: unknown;
}

/** The dependencies once read back, then the task's checkpoint file (read errors kept, not thrown: the task is then computed). */
export async function withCheckpoint(found: Found | Promise<Found>, path: string, key: string): Promise<Checkpointed> {
  const f = await found;
  try {
    return { found: f, loaded: await readCheckpoint(path, key) };
  } catch (err) {
    return { found: f, unreadable: err };
  }
}

/**
 * Tasks start in the order the state machine chose, though some wait for I/O first (their
 * checkpoint file, spilled dependencies read back): the reads run side by side, and each task
 * starts once those before it have. (A read that finished first used to start its task first:
 * with one thread, a task waiting on something a later-queued task does never let it run.)
 */
export class InOrder {
  #waiting = 0;
  #last: Promise<void> = Promise.resolve();

  run<T>(ready: T | Promise<T>, start: (v: T) => void, failed: (err: unknown) => void): void {
    if (this.#waiting === 0 && !(ready instanceof Promise)) return start(ready);
    this.#waiting++;
    const settled = Promise.resolve(ready).then((v) => () => start(v), (err: unknown) => () => failed(err));
    this.#last = this.#last.then(async () => {
      const go = await settled;
      this.#waiting--;
      go();
    });
  }
}
