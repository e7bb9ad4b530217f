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
