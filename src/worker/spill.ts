/**
 * Spilling: results moved out of memory into files under the worker's local directory, and
 * read back when needed. One file per key: `[u32 partCount][u32 length]*` then the parts.
 * Reads are asynchronous: a peer, client or task waits for a value on disk, the worker's
 * event loop does not. Writes are synchronous, on the memory monitor's tick. Files are
 * removed when their key is freed, and the directory when the worker closes.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import path from "node:path";
import { ConfigError, describeError } from "../errors.js";
import { DEFAULT_THRESHOLDS, type MemoryThresholds } from "./memory.js";
import type { Stored } from "./state-machine.js";

/**
 * The spill directory of the worker process `pid`, one per process so that a nanny can remove
 * the directory of a worker that died without cleaning up; undefined for a worker that never
 * spills (no memory limit, or target and spill both false), which must not touch the disk.
 */
export function spillDirectory(
  worker: { localDirectory?: string; memoryLimit?: number; memory?: Partial<MemoryThresholds> },
  pid: number,
): string | undefined {
  const t = { ...DEFAULT_THRESHOLDS, ...worker.memory };
  if (!((worker.memoryLimit ?? 0) > 0) || (t.target === false && t.spill === false)) return undefined;
  return path.join(worker.localDirectory ?? tmpdir(), `dask-worker-${pid}`);
}

/** What stays in the data map for a spilled value. */
export class Spilled {
  constructor(readonly file: string, readonly nbytes: number) {}
}

export class SpillDirectory {
  readonly dir: string;
  #bytes = 0;

  /** Creates `dir` and proves it writable, or fails with a ConfigError naming it. */
  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(dir, { recursive: true });
      const probe = path.join(dir, ".writable");
      closeSync(openSync(probe, "w"));
      rmSync(probe);
    } catch (err) {
      throw new ConfigError(
        `local directory ${dir} is not writable (${describeError(err)}): spilling needs it; choose another with --local-directory, or turn spilling off (distributed.worker.memory.target and spill: false)`,
      );
    }
  }

  /** Bytes currently in files. */
  get bytes(): number {
    return this.#bytes;
  }

  write(key: string, value: Stored): Spilled {
    const file = path.join(this.dir, createHash("sha1").update(key).digest("hex"));
    const header = Buffer.allocUnsafe(4 + 4 * value.length);
    header.writeUInt32LE(value.length, 0);
    value.forEach((p, i) => header.writeUInt32LE(p.length, 4 + 4 * i));
    const fd = openSync(file, "w");
    try {
      writeSync(fd, header);
      for (const p of value) writeSync(fd, p);
    } finally {
      closeSync(fd);
    }
    let nbytes = 0;
    for (const p of value) nbytes += p.length;
    this.#bytes += nbytes;
    return new Spilled(file, nbytes);
  }

  async read(s: Spilled): Promise<Stored> {
    const all = await readFile(s.file);
    const count = all.readUInt32LE(0);
    let offset = 4 + 4 * count;
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const n = all.readUInt32LE(4 + 4 * i);
      parts.push(all.subarray(offset, offset + n));
      offset += n;
    }
    return parts;
  }

  remove(s: Spilled): void {
    rmSync(s.file, { force: true });
    this.#bytes -= s.nbytes;
  }

  /** Remove every file and the directory itself. */
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
    this.#bytes = 0;
  }
}
