/**
 * The scale section of `npm run bench` (BENCH_ONLY=scale): runs the points of bench/scale.ts,
 * Python Dask's tasks curve (bench/python/dask_scale.py) beside ours, prints each curve with
 * the slope between sizes and the issue's targets, and, when a target is missed, the hottest
 * scheduler functions of a profiled run (what bounds it).
 *   BENCH_SCALE_MAX=N          largest task count (default 1,000,000; sizes 10k, 100k, 1M ...)
 *   BENCH_SCALE_WORKERS_MAX=N  largest null-worker count (default 1,000; sizes 2, 100, 1,000)
 *   BENCH_SCALE_DISPATCH=N     tasks dispatched at each worker count (default 50,000)
 *   BENCH_SCALE_DASK_MAX=N     largest task count on Python Dask (default 100,000)
 *   BENCH_SCALE_PROFILE=0      no profiled runs
 */
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseResult, root, run } from "../runner.js";
import { fmt, table } from "../table.js";
import { type Ingest, type TasksPoint, type WorkersPoint, profileOf, sizes, tasksPoint, workersPoint } from "../scale.js";
import type { Profile } from "./profile.js";

type Attempt = <T>(what: string, f: () => Promise<T>) => Promise<T | undefined>;

interface DaskPoint {
  n: number;
  rssPerQueuedTask: number;
  rssPerWaitingTask: number;
  schedulerRssMiB: number;
  independent: Omit<Ingest, "clientCpuUs">;
  dependent: Omit<Ingest, "clientCpuUs">;
  endToEnd: number;
  schedulerCpuUsPerTask: number;
}
interface DaskScale {
  version: string;
  config: Record<string, unknown>;
  points: DaskPoint[];
}

const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

/** later / earlier for each consecutive pair ("x1.00": flat). */
const slopes = (xs: Array<number | undefined>) =>
  xs.slice(1).map((x, i) => (x === undefined || xs[i] === undefined ? "" : `x${(x / xs[i]!).toFixed(2)}`));
const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

export async function scaleSection(attempt: Attempt, python: string): Promise<void> {
  const taskSizes = sizes(10_000, envInt("BENCH_SCALE_MAX", 1_000_000));
  const workersMax = envInt("BENCH_SCALE_WORKERS_MAX", 1000);
  const workerSizes = [...new Set([2, 100, 1000].filter((w) => w <= workersMax).concat(workersMax))].sort((a, b) => a - b);
  const dispatch = envInt("BENCH_SCALE_DISPATCH", 50_000);
  const daskMax = envInt("BENCH_SCALE_DASK_MAX", 100_000);

  // ---- ours
  const tasks: Array<TasksPoint | undefined> = [];
  for (const n of taskSizes) tasks.push(await attempt(`scale tasks ${label(n)}`, () => tasksPoint(n)));
  // each size twice: the figures unprofiled, then a profiled run for placement's share of the CPU
  const workers: Array<(WorkersPoint & { placementUsPerTask?: number; profile?: Profile }) | undefined> = [];
  for (const w of workerSizes) {
    const point = await attempt(`scale workers ${w}`, () => workersPoint(w, dispatch));
    const profiled = point && (await attempt(`scale workers ${w} profiled`, () => workersPoint(w, dispatch, true)));
    const share = profiled?.profile?.fileShare["state-placement.js"];
    workers.push(point && { ...point, profile: profiled?.profile, placementUsPerTask: share === undefined ? undefined : (share / 100) * point.schedulerCpuUsPerTask });
  }

  // ---- Python Dask
  let dask: DaskScale | undefined;
  let daskNote: string;
  const daskSizes = taskSizes.filter((n) => n <= daskMax);
  if (process.env.BENCH_DASK === "0") daskNote = "Dask: skipped (BENCH_DASK=0)";
  else if ((await run(python, ["-c", "import distributed, psutil"], 30_000)).code !== 0) daskNote = "Dask: not installed";
  else {
    const script = path.join(root, "bench/python/dask_scale.py");
    const timeout = 120_000 + daskSizes.reduce((a, n) => a + n * 5, 0); // 5 ms a task
    dask = await attempt("scale python dask", async () =>
      parseResult<DaskScale>(await run(python, [script, String(daskMax)], timeout, { PYTHONDONTWRITEBYTECODE: "1" }), "scale python dask"),
    );
    daskNote = dask ? `Dask ${dask.version}, configured for tiny tasks: ${JSON.stringify(dask.config)}` : "Dask: failed (see below)";
  }
  const daskAt = (n: number) => dask?.points.find((p) => p.n === n);

  // ---- tasks curve
  const sizeCols = taskSizes.map(label);
  const slopeCols = taskSizes.slice(1).map((n, i) => `${label(taskSizes[i]!)}->${label(n)}`);
  const daskCols = daskSizes.map((n) => `Dask ${label(n)}`);
  const rows: string[][] = [];
  const last = <T>(xs: Array<T | undefined>) => xs[xs.length - 1];
  const row = (name: string, get: (p: TasksPoint) => number, daskGet?: (p: DaskPoint) => number, target?: (x: number) => string) => {
    const xs = tasks.map((p) => (p ? get(p) : undefined));
    const top = last(xs);
    rows.push([
      name,
      ...xs.map((x) => (x === undefined ? "failed" : fmt(x))),
      ...slopes(xs),
      ...daskSizes.map((n) => {
        const d = daskAt(n);
        return d && daskGet ? fmt(daskGet(d)) : "";
      }),
      target && top !== undefined ? target(top) : "",
    ]);
  };
  row("heap per queued task, B (Dask: RSS)", (p) => p.heapPerQueuedTask, (d) => d.rssPerQueuedTask, (x) => `<= 400: ${verdict(x <= 400)}`);
  row("heap per waiting task, B (Dask: RSS)", (p) => p.heapPerWaitingTask, (d) => d.rssPerWaitingTask, (x) => `<= 800: ${verdict(x <= 800)}`);
  row("scheduler RSS with 2N tasks, MiB", (p) => p.schedulerRssMiB, (d) => d.schedulerRssMiB);
  row("ingest, independent, tasks/s (wall)", (p) => p.independent.rate, (d) => d.independent.rate, (x) => `>= 250,000: ${verdict(x >= 250_000)}`);
  row("  scheduler CPU per task, us", (p) => p.independent.schedulerCpuUs, (d) => d.independent.schedulerCpuUs, (x) => `=> ${fmt(1e6 / x)}/s on one core`);
  row("  client CPU per task, us", (p) => p.independent.clientCpuUs);
  row("ingest, one dependency, tasks/s (wall)", (p) => p.dependent.rate, (d) => d.dependent.rate, (x) => `>= 150,000: ${verdict(x >= 150_000)}`);
  row("  scheduler CPU per task, us", (p) => p.dependent.schedulerCpuUs, (d) => d.dependent.schedulerCpuUs, (x) => `=> ${fmt(1e6 / x)}/s on one core`);
  row("  client CPU per task, us", (p) => p.dependent.clientCpuUs);
  row("end to end map+gather, tasks/s (wall)", (p) => p.endToEnd, (d) => d.endToEnd);
  row("  scheduler CPU per task, us", (p) => p.schedulerCpuUsPerTask, (d) => d.schedulerCpuUsPerTask, (x) => `<= 5: ${verdict(x <= 5)}`);
  row("  client CPU per task, us", (p) => p.clientCpuUsPerTask);
  row("scheduler's longest event-loop block, ms", (p) => p.maxStallMs, undefined, (x) => (x > 10_000 ? "a heartbeat timeout's worth: no answer to anyone meanwhile" : ""));
  console.log(`\nscale, tasks: one scheduler (own process, no dashboard), client.map of N; ingest with no worker, end to end through 2 null workers (ours) or 2 dask-worker processes (Dask)\n`);
  console.log(table(["figure", ...sizeCols, ...slopeCols, ...daskCols, "target (at the largest size)"], rows, "l"));
  console.log(daskNote);
  if (daskSizes.length < taskSizes.length) {
    const d = dask?.points[dask.points.length - 1];
    const big = taskSizes[taskSizes.length - 1]!;
    const more = d
      ? `: at ${label(d.n)} its scheduler held ${fmt(d.schedulerRssMiB)} MiB; at its per-task figures, ${label(big)} would need about ${fmt(((d.rssPerQueuedTask + d.rssPerWaitingTask) * big) / 2 ** 30)} GB more and ${fmt((big / d.independent.rate + big / d.dependent.rate) / 60)} min for the two maps, ${fmt(big / d.endToEnd / 60)} min end to end`
      : "";
    console.log(`Dask stops at ${label(daskMax)} tasks (BENCH_SCALE_DASK_MAX)${more}`);
  }

  // ---- workers curve
  const wrows: string[][] = [];
  const wrow = (name: string, get: (p: (typeof workers)[number] & {}) => number | undefined, target?: (x: number) => string) => {
    const xs = workers.map((p) => (p ? get(p) : undefined));
    const top = last(xs);
    wrows.push([name, ...xs.map((x, i) => (x !== undefined ? fmt(x) : workers[i] ? "-" : "failed")), ...slopes(xs), target && top !== undefined ? target(top) : ""]);
  };
  const atMax = workersMax >= 1000;
  wrow("registration, ms (wall)", (p) => p.registeredMs, (x) => (atMax ? `1,000 in <= 10,000: ${verdict(x <= 10_000)}` : ""));
  wrow("idle scheduler CPU, % of a core", (p) => p.idleCorePercent, (x) => (atMax ? `<= 10: ${verdict(x <= 10)}` : ""));
  wrow(`dispatch of ${label(dispatch)}, tasks/s (wall)`, (p) => p.dispatchRate, (x) => `>= 200,000: ${verdict(x >= 200_000)}`);
  wrow("  scheduler CPU per task, us", (p) => p.schedulerCpuUsPerTask, (x) => `<= 5: ${verdict(x <= 5)}; flat slope: placement does not grow`);
  wrow("  of it placement (profile), us", (p) => p.placementUsPerTask, () => "state-placement.js share of a profiled run x CPU per task");
  wrow("  null workers' CPU per task, us", (p) => p.nullWorkersCpuUsPerTask, () => "all in one process");
  wrow("scheduler's longest event-loop block, ms", (p) => p.maxStallMs, (x) => (x > 10_000 ? "a heartbeat timeout's worth: no answer to anyone meanwhile" : ""));
  console.log(`\nscale, workers: null workers (bench/null-workers.ts, 1 thread each, heartbeat 1 s, one process) on one scheduler\n`);
  console.log(table(["figure", ...workerSizes.map(String), ...workerSizes.slice(1).map((w, i) => `${workerSizes[i]}->${w}`), "target (at the largest size)"], wrows, "l"));
  console.log("Dask: no null workers there; its workers curve is not measured (100+ dask-worker processes do not fit this machine's 2 cores)");
  console.log("wall rates share 2 cores with the client, the null workers and whatever else runs; CPU per task is the figure to compare");

  // ---- what bounds the missed targets
  if (process.env.BENCH_SCALE_PROFILE === "0" || !rows.concat(wrows).some((r) => r[r.length - 1]!.includes("MISSED"))) return;
  const show = (what: string, p: Profile) => {
    console.log(`\nscheduler profile, ${what}: ${fmt(p.busyMs)} ms busy; self time by function (lines of dist/), and by file\n`);
    console.log(table(["function", "% of busy"], p.top.map((h) => [h.where, fmt(h.percent)]), "lr"));
    console.log(`by file: ${p.files.map((h) => `${h.where} ${fmt(h.percent)}%`).join(", ")}`);
  };
  const pn = Math.min(100_000, taskSizes[taskSizes.length - 1]!);
  const dir = mkdtempSync(path.join(tmpdir(), "scale-prof-"));
  try {
    await attempt(`scale profile tasks ${label(pn)}`, () => tasksPoint(pn, dir));
    const p = profileOf(dir);
    if (p) show(`tasks ${label(pn)} (ingest of both maps, then end to end)`, p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const top = last(workers);
  if (top?.profile) show(`${top.workers} null workers (registration, idle, dispatch of ${label(dispatch)})`, top.profile);
}
