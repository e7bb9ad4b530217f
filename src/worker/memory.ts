/**
 * Memory thresholds, with Dask's names and defaults, as fractions of a worker's memory limit:
 * above `pause` the worker starts no new tasks (and tells the scheduler), above `terminate`
 * its nanny restarts it (a worker without a nanny closes). `false` turns a threshold off.
 * (`target` and `spill` govern spilling to disk.) Pure: measured bytes in, a state out.
 */
import { readFileSync } from "node:fs";

export interface MemoryThresholds {
  target: number | false;
  spill: number | false;
  pause: number | false;
  terminate: number | false;
}

/** Dask's defaults; the same as `distributed.worker.memory.*` in the configuration (a unit test checks). */
export const DEFAULT_THRESHOLDS: MemoryThresholds = { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 };

export type MemoryState = "ok" | "paused" | "terminate";

/** What a process using `rss` bytes of a `limit` (0 = none) should be doing. */
export function memoryState(rss: number, limit: number, t: MemoryThresholds): MemoryState {
  if (!(limit > 0)) return "ok";
  if (t.terminate !== false && rss >= t.terminate * limit) return "terminate";
  if (t.pause !== false && rss >= t.pause * limit) return "paused";
  return "ok";
}

const PAGE = 4096;

/** Resident bytes of another process (Linux /proc), or undefined when it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
    return Number(fields[1]) * PAGE;
  } catch {
    return undefined;
  }
}

/** The memory monitor waits at most this many base intervals between checks, far below the limits. */
export const MONITOR_STRETCH_MAX = 10;
/** Growth the monitor assumes possible in one base interval, as a fraction of the limit (at 100 ms: half the limit a second). */
export const ASSUMED_GROWTH = 0.05;

/** A memory reading, for the next one's growth. */
export interface MemoryReading {
  bytes: number;
  atMs: number;
}

/**
 * How long until the memory monitor's next check: as many base intervals as `bytes` could grow
 * by, before it reaches the lowest of `fractions` (of `limit`), at the faster of ASSUMED_GROWTH and
 * the growth seen since `last`; one base interval near a threshold, at most MONITOR_STRETCH_MAX
 * far below. So a hundred idle workers, far below their limits, check ~10 times less often than
 * one close to them, which checks as often as before. No limit or no threshold: the longest wait.
 */
export function nextCheckMs(now: MemoryReading, last: MemoryReading | undefined, limit: number, fractions: Array<number | false>, baseMs: number): number {
  const set = fractions.filter((f): f is number => f !== false);
  if (!(limit > 0) || set.length === 0) return baseMs * MONITOR_STRETCH_MAX;
  const headroom = Math.min(...set) * limit - now.bytes;
  let perInterval = ASSUMED_GROWTH * limit;
  if (last && now.atMs > last.atMs) perInterval = Math.max(perInterval, ((now.bytes - last.bytes) * baseMs) / (now.atMs - last.atMs));
  const intervals = Math.floor(headroom / perInterval);
  return baseMs * Math.max(1, Math.min(MONITOR_STRETCH_MAX, intervals));
}

/**
 * A memory monitor's timer (worker and nanny): `check` now and again at nextCheckMs's pace
 * until stop(). `check` gives the bytes it read and whether they are below every threshold;
 * undefined (nothing read) or not below: again in one base interval.
 */
export class PacedCheck {
  #timer: NodeJS.Timeout | undefined;
  #last: MemoryReading | undefined;
  #stopped = false;

  constructor(private readonly o: { baseMs: number; limit: number; fractions: () => Array<number | false>; check: () => { bytes: number; ok: boolean } | undefined }) {
    this.#run();
  }

  #run(): void {
    if (this.#stopped) return;
    const r = this.o.check();
    const reading = r && { bytes: r.bytes, atMs: performance.now() };
    const wait = r?.ok && reading ? nextCheckMs(reading, this.#last, this.o.limit, this.o.fractions(), this.o.baseMs) : this.o.baseMs;
    this.#last = reading;
    if (!this.#stopped) this.#timer = setTimeout(() => this.#run(), wait).unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
