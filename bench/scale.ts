/**
 * The scale section of the bench: cost curves of one scheduler (its own process, started with
 * --expose-gc and no dashboard), measured by a client fixture in another process and null
 * workers (bench/null-workers.ts) in a third, a fresh scheduler for every size:
 *   tasks   10k -> 100k -> 1M (BENCH_SCALE_MAX): heap per queued and per waiting task, ingest
 *           rates, end-to-end rate through 2 null workers (bench/scale/tasks.ts)
 *   workers 2 -> 100 -> 1,000 null workers: registration time, idle CPU, dispatch rate, scheduler
 *           CPU per dispatched task and placement's part of it, from a profiled run (bench/scale/workers.ts)
 * Each curve prints the slope between consecutive sizes (the change of a per-task figure as
 * the size grows x10: 1.00 = flat).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { dist, parseResult, root, run } from "./runner.js";
import { type Profile, hottest } from "./scale/profile.js";

export interface Ingest {
  rate: number;
  schedulerCpuUs: number;
  clientCpuUs: number;
}

export interface TasksPoint {
  n: number;
  heapPerQueuedTask: number;
  heapPerWaitingTask: number;
  schedulerRssMiB: number;
  /** client.map of n: wall tasks/s, and CPU us per task of the scheduler and the client */
  independent: Ingest;
  dependent: Ingest;
  endToEnd: number;
  /** end to end, CPU us per task */
  schedulerCpuUsPerTask: number;
  clientCpuUsPerTask: number;
  /** the scheduler's longest event-loop block over the point (forced GCs left out), ms */
  maxStallMs: number;
}

export interface WorkersPoint {
  workers: number;
  tasks: number;
  registeredMs: number;
  idleCorePercent: number;
  dispatchRate: number;
  schedulerCpuUsPerTask: number;
  nullWorkersCpuUsPerTask: number;
  /** the scheduler's longest event-loop block over the point, ms */
  maxStallMs: number;
}

const HEAP_MB = "6144";

/**
 * Start `dask-scheduler-ts` with --expose-gc; run `f` with its scheduler file; stop it. With
 * `profileDir` it runs under --cpu-prof and is stopped by SIGTERM, so that it writes its profile.
 */
export async function withScheduler<T>(f: (file: string) => Promise<T>, profileDir?: string): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), "scale-bench-"));
  const file = path.join(dir, "scheduler.json");
  const prof = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
  const child = spawn(
    process.execPath,
    ["--expose-gc", `--max-old-space-size=${HEAP_MB}`, ...prof, path.join(root, "bin/dask-scheduler-ts.js"), "--scheduler-file", file, "--host", "127.0.0.1", "--no-dashboard", "--log-level", "warn"],
    { cwd: root, stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  };
  process.once("exit", kill);
  try {
    const deadline = Date.now() + 30_000;
    while (!existsSync(file)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`scheduler did not start: ${stderr.trim().split("\n").slice(-5).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return await f(file);
  } finally {
    if (profileDir && child.exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    kill();
    process.removeListener("exit", kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The sizes: 10k, 100k, 1M..., up to `max`. */
export function sizes(from: number, max: number): number[] {
  const out: number[] = [];
  for (let s = from; s <= max; s *= 10) out.push(s);
  return out;
}

export async function tasksPoint(n: number, profileDir?: string): Promise<TasksPoint> {
  const timeout = 60_000 + n * 0.5; // 0.5 ms a task: ten times today's cost
  return withScheduler(async (file) =>
    parseResult<TasksPoint>(await run(process.execPath, [`--max-old-space-size=${HEAP_MB}`, dist("scale/tasks"), file, String(n)], timeout), `scale tasks ${n}`),
  profileDir);
}

/**
 * A workers point; `profiled`: its scheduler under --cpu-prof (which costs it a good part of its
 * CPU: take shares from such a run, and CPU figures from one without).
 */
export async function workersPoint(w: number, m: number, profiled = false): Promise<WorkersPoint & { profile?: Profile }> {
  const timeout = 120_000 + w * 100 + m * 0.5;
  const dir = profiled ? mkdtempSync(path.join(tmpdir(), "scale-prof-")) : undefined;
  try {
    const point = await withScheduler(async (file) =>
      parseResult<WorkersPoint>(await run(process.execPath, [dist("scale/workers"), file, String(w), String(m)], timeout), `scale workers ${w}`),
    dir);
    return dir ? { ...point, profile: profileOf(dir) } : point;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The one profile written into `dir`, summarized. */
export function profileOf(dir: string): Profile | undefined {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  return file ? hottest(path.join(dir, file)) : undefined;
}
