/**
 * The values a worker holds, by key: in memory (encoded parts), or spilled to a file in its
 * private spill directory and read back when asked for. The map's order is the least-recently
 * used order: taking a value marks it used, and spilling takes the oldest first. Only this
 * module touches the values and the spill files; the state machine knows their sizes.
 */
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import type { MemoryThresholds } from "./memory.js";
import { SpillDirectory, Spilled } from "./spill.js";

/** A value as stored: encoded head then raw parts (large binaries). */
export type Stored = Buffer[];

/** What the store holds for a key: the value in memory, or where it was spilled. */
export type Held = Stored | Spilled;

export function storedBytes(s: Stored): number {
  let n = 0;
  for (const b of s) n += b.length;
  return n;
}

/** Values a worker holds, by key, and the keys it does not hold. */
export interface Found {
  /**
   * the values by key: a Map, as are the dependencies handed to a task thread. An object keyed
   * by task names makes V8 add a hidden class and intern a new property name for each key
   * (measured in process: an object of 2 such keys made and read in ~2 us, a Map in ~0.1)
   */
  data: Map<string, Stored>;
  missing: string[];
}

export interface SpillLimits {
  /** the worker's memory limit in bytes; 0: no limit, never spill */
  memoryLimit: number;
  thresholds: MemoryThresholds;
  /** bytes on disk at most; false: no cap */
  maxSpillBytes: number | false;
}

/** After a failed spill, the next try waits this long. */
export const SPILL_RETRY_MS = 5000;

export class DataStore {
  #values = new Map<string, Held>();
  #spill: SpillDirectory | undefined;
  /** Spilled values being read back, by key. */
  #readingBack = new Map<string, Promise<Stored | undefined>>();
  #limits: SpillLimits;
  /** after a failed spill (a full disk, a quota), no new try before this time (ms) */
  #spillAgainAt = 0;

  #onLost: (key: string, err: unknown) => void;

  /** `onLost`: a spilled value could not be read back (it is dropped here, and reads as missing). */
  constructor(limits: SpillLimits, onLost: (key: string, err: unknown) => void = () => {}) {
    this.#limits = limits;
    this.#onLost = onLost;
  }

  /** Spill into a private directory made in `parent` (a ConfigError naming it if it cannot be). */
  openSpill(parent: string): void {
    this.#spill = new SpillDirectory(parent);
  }

  /** The values by key, in use order (oldest first). For tests and metrics. @internal */
  get view(): ReadonlyMap<string, Held> {
    return this.#values;
  }

  get size(): number {
    return this.#values.size;
  }

  /** Bytes of the values in memory (not spilled). Walks every value: not per task. */
  get memoryBytes(): number {
    let n = 0;
    for (const v of this.#values.values()) if (!(v instanceof Spilled)) n += storedBytes(v);
    return n;
  }

  /** Bytes in spill files. */
  get spilledBytes(): number {
    return this.#spill?.bytes ?? 0;
  }

  has(key: string): boolean {
    return this.#values.has(key);
  }

  /** Keep `value` under `key`; a spilled older value's file goes. */
  put(key: string, value: Stored): void {
    const old = this.#values.get(key);
    if (old instanceof Spilled) this.#spill?.remove(old);
    this.#values.set(key, value);
  }

  /** Drop these keys' values, in memory and on disk. */
  delete(keys: Iterable<string>): void {
    for (const k of keys) {
      const v = this.#values.get(k);
      if (v instanceof Spilled) this.#spill?.remove(v);
      this.#values.delete(k);
    }
  }

  /** Drop every value and the spill directory (the worker closes). */
  close(): void {
    this.delete([...this.#values.keys()]);
    this.#spill?.close();
  }

  /**
   * Held values' bytes by key (marked as recently used), and the keys not held. Synchronous
   * unless some are spilled: those are read back from disk without blocking the event loop
   * (and are in memory again). Tasks, peers and clients all take values through here.
   */
  values(keys: Iterable<string>): Found | Promise<Found> {
    const found: Found = { data: new Map(), missing: [] };
    const reads: Promise<void>[] = [];
    for (const k of keys) {
      const v = this.#touch(k);
      if (v instanceof Spilled) {
        reads.push(this.#readBack(k, v).then((stored) => void (stored ? found.data.set(k, stored) : found.missing.push(k))));
      } else if (v) {
        found.data.set(k, v);
      } else {
        found.missing.push(k);
      }
    }
    return reads.length ? Promise.all(reads).then(() => found) : found;
  }

  /** Mark as recently used: the map's order is the spilling order (oldest first). */
  #touch(key: string): Held | undefined {
    const v = this.#values.get(key);
    if (v === undefined) return undefined;
    this.#values.delete(key);
    this.#values.set(key, v);
    return v;
  }

  /**
   * A spilled value back from its file into memory; concurrent requests share one read. A
   * key freed while it was being read reads as missing, and so does one whose file cannot be
   * read back (`onLost`).
   */
  #readBack(key: string, spilled: Spilled): Promise<Stored | undefined> {
    let reading = this.#readingBack.get(key);
    if (!reading) {
      const stillHeld = () => this.#values.get(key) === spilled;
      reading = this.#spill!.read(spilled)
        .then(
          (value) => {
            if (!stillHeld()) return undefined;
            this.#spill!.remove(spilled);
            this.#values.set(key, value); // same key: keeps its place in the order
            return value;
          },
          (err) => {
            // its file went with it; or the file is not what was written: the value is lost
            // here, not wrong, and whoever asked finds it missing (the worker tells the scheduler)
            if (stillHeld()) {
              this.delete([key]);
              this.#onLost(key, err);
            }
            return undefined;
          },
        )
        .finally(() => this.#readingBack.delete(key));
      this.#readingBack.set(key, reading);
    }
    return reading;
  }

  /**
   * Move least-recently-used values to disk: while bytes in memory are above `target`, and,
   * while the process's memory (`rss`) is above `spill`, as many bytes as it is over; never
   * past `maxSpillBytes` on disk. Runs on the memory monitor's tick (it walks all values: not
   * per task). After a write fails, the next try waits SPILL_RETRY_MS (`now`: for tests).
   */
  spillIfNeeded(rss: number, now = Date.now()): void {
    const spill = this.#spill;
    const { memoryLimit: limit, thresholds: t, maxSpillBytes: maxSpill } = this.#limits;
    if (!spill || !(limit > 0) || now < this.#spillAgainAt) return;
    const managed = this.memoryBytes;
    let toFree = 0;
    if (t.target !== false) toFree = Math.max(toFree, managed - t.target * limit);
    if (t.spill !== false) toFree = Math.max(toFree, rss - t.spill * limit);
    if (toFree <= 0) return;
    for (const [key, v] of this.#values) {
      if (toFree <= 0) break;
      if (v instanceof Spilled) continue;
      if (maxSpill !== false && spill.bytes + storedBytes(v) > maxSpill) break;
      let s: Spilled;
      try {
        s = spill.write(key, v);
      } catch (err) {
        // a full disk (or a quota) keeps the value in memory: the worker goes on, pausing if it
        // must, and tries again later (not at every tick of the memory monitor, each time logged)
        this.#spillAgainAt = now + SPILL_RETRY_MS;
        logger("worker").error({ key, err: describeError(err), retryInMs: SPILL_RETRY_MS }, "could not spill; the value stays in memory");
        return;
      }
      this.#values.set(key, s); // same key: keeps its place in the order
      toFree -= s.nbytes;
    }
  }
}
