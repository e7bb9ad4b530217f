/**
 * Processes of the real-worker scale fixtures (bench/scale/real.ts, million.ts): CPU and memory
 * of a process through /proc, and stopping a tagged process tree (every process must end).
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { taggedPids as tagged } from "../../test/helpers/proc.js";
import { now } from "../fixtures/common.js";

const TICK = 100; // USER_HZ, as on every Linux Node runs on
/** user + system CPU of a process so far (ms), 0 if gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
  } catch {
    return 0;
  }
}

/** kB field of /proc/PID/status or smaps_rollup, 0 if gone. */
export function kb(file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function pause(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** SIGTERM the command; every process it started must end (else SIGKILL, and an error). */
export async function stop(child: ChildProcess, tag: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const deadline = now() + 60_000;
  let left = tagged(tag);
  while (left.length && now() < deadline) {
    await pause(200);
    left = tagged(tag);
  }
  if (left.length) {
    for (const p of left) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
    throw new Error(`${left.length} process(es) still running 60 s after SIGTERM: ${left.join(", ")}`);
  }
}

