/** Parsing of byte sizes, memory limits and durations as users write them on command lines. */
import { totalmem } from "node:os";
import { ConfigError } from "./errors.js";

const BYTE_UNITS: Record<string, number> = {
  "": 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
  k: 1e3, m: 1e6, g: 1e9, t: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, pib: 2 ** 50,
};

/** `"10GB"` -> 1e10, `"10GiB"` -> 10 * 2^30, `"512"` -> 512. Names the flag in errors. */
export function parseBytes(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(`${what} must be a size like 10GB, 512MiB or a number of bytes, got ${JSON.stringify(text)}`);
  }
  return Math.floor(Number(m[1]) * unit);
}

/**
 * A per-worker memory limit: a size (`10GB`), a fraction of the node's memory (`0.25`),
 * `auto` (node memory divided by the worker processes on the node), or `0`/`none` (no limit).
 */
export function parseMemoryLimit(
  text: string,
  node: { totalBytes?: number; workersOnNode?: number } = {},
  what = "--memory-limit",
): number {
  const total = node.totalBytes ?? totalmem();
  const t = text.trim().toLowerCase();
  if (t === "none" || t === "0") return 0;
  if (t === "auto") return Math.floor(total / Math.max(1, node.workersOnNode ?? 1));
  if (/^(0?\.\d+|1(\.0*)?)$/.test(t)) return Math.floor(Number(t) * total);
  const bytes = parseBytes(text, what);
  if (bytes > total) {
    throw new ConfigError(`${what} ${text} is more than this node's memory (${total} bytes)`);
  }
  return bytes;
}

// Milliseconds per unit; a bare number is seconds. Includes the longer spellings Dask's
// parse_timedelta accepts ("5 minutes", "1 day", "500us").
const DURATION_UNITS: Record<string, number> = {
  "": 1000, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000,
  ns: 1e-6, us: 1e-3, millisecond: 1, milliseconds: 1, sec: 1000, second: 1000, seconds: 1000,
  mins: 60_000, minute: 60_000, minutes: 60_000, hr: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000, w: 604_800_000, week: 604_800_000, weeks: 604_800_000,
};

/** `"30s"`, `"5m"`, `"2h"`, `"250ms"`, `"5 minutes"`, or a plain number of seconds -> milliseconds. */
export function parseDuration(text: string, what = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/.exec(text.toLowerCase());
  const unit = m ? DURATION_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(`${what} must be a duration like 30s, 5m or 2h, got ${JSON.stringify(text)}`);
  }
  return Number(m[1]) * unit;
}
