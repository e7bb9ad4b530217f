/**
 * Spilling: results moved out of memory into files under the worker's local directory, and
 * read back when needed. One file per key: `[u32 partCount][u32 length]*` then the parts.
 * Reads are asynchronous: a peer, client or task waits for a value on disk, the worker's
 * event loop does not. Writes are synchronous, on the memory monitor's tick. Files are
 * removed when their key is freed, and the directory when the worker closes. The directory is
 * private (0700, files 0600) and purged by the next worker if this one is killed: see
 * local-directory.ts.
 */
import { closeSync, openSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { writeAllSync } from "../files.js";
import { createWorkerDirectory } from "./local-directory.js";
import { DEFAULT_THRESHOLDS, type MemoryThresholds } from "./memory.js";

/**
 * The local directory a worker's spill directory goes in; undefined for a worker that never
 * spills (no memory limit, or target and spill both false), which must not touch the disk.
 */
export function spillParent(worker: { localDirectory?: string; memoryLimit?: number; memory?: Partial<MemoryThresholds> }): string | undefined {
  const t = { ...DEFAULT_THRESHOLDS, ...worker.memory };
  if (!((worker.memoryLimit ?? 0) > 0) || (t.target === false && t.spill === false)) return undefined;
  return worker.localDirectory ?? tmpdir();
}

/** What stays in the data map for a spilled value. */
export class Spilled {
  constructor(readonly file: string, readonly nbytes: number) {}
}

export class SpillDirectory {
  readonly dir: string;
  #bytes = 0;

  /** Creates a private directory in `parent`, or fails with a ConfigError naming it. */
  constructor(parent: string) {
    try {
      this.dir = createWorkerDirectory(parent);
    } catch (err) {
      throw new ConfigError(
        `${(err as Error).message}: spilling needs it; choose another with --local-directory, or turn spilling off (distributed.worker.memory.target and spill: false)`,
        { cause: err },
      );
    }
  }

  /** Bytes currently in files. */
  get bytes(): number {
    return this.#bytes;
  }

  write(key: string, value: readonly Buffer[]): Spilled {
    const file = path.join(this.dir, createHash("sha1").update(key).digest("hex"));
    const header = Buffer.allocUnsafe(4 + 4 * value.length);
    header.writeUInt32LE(value.length, 0);
    value.forEach((p, i) => header.writeUInt32LE(p.length, 4 + 4 * i));
    const fd = openSync(file, "w", 0o600);
    try {
      writeAllSync(fd, header);
      for (const p of value) writeAllSync(fd, p);
    } catch (err) {
      rmSync(file, { force: true }); // a part-written file is never read back
      throw err;
    } finally {
      closeSync(fd);
    }
    let nbytes = 0;
    for (const p of value) nbytes += p.length;
    this.#bytes += nbytes;
    return new Spilled(file, nbytes);
  }

  /**
   * The parts written for `s`; throws naming the file when its size is not what was written (a
   * file cut short, or grown, after the write would read as a shorter or different value).
   */
  async read(s: Spilled): Promise<Buffer[]> {
    const all = await readFile(s.file);
    const changed = (why: string) => new Error(`spill file ${s.file} ${why}: it changed after it was written, so its value is not read back`);
    if (all.length < 4) throw changed(`is ${all.length} bytes, shorter than its header`);
    const count = all.readUInt32LE(0);
    let offset = 4 + 4 * count;
    if (all.length < offset) throw changed(`is ${all.length} bytes, shorter than its header of ${count} parts`);
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const n = all.readUInt32LE(4 + 4 * i);
      parts.push(all.subarray(offset, offset + n));
      offset += n;
    }
    if (offset !== all.length || offset - (4 + 4 * count) !== s.nbytes) {
      throw changed(`is ${all.length} bytes, not the ${4 + 4 * count + s.nbytes} written (${count} parts, ${s.nbytes} bytes of value)`);
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
