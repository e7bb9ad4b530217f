/**
 * The million part of the scale section (issue 15, point 5): bench/scale/million.ts in a process
 * of its own: a map+gather of N (default 1,000,000) and of SMALL (50,000) on 2 real workers, and
 * a tree reduction of N leaves; prints the rates, N's against SMALL's (target: no less), and the
 * client's and the scheduler's peak RSS (target: each < 2 GiB).
 *   BENCH_SCALE_MILLION=0      skip it
 *   BENCH_SCALE_MILLION_N=N    N (default 1,000,000)
 */
import { dist, parseResult, run } from "../runner.js";
import { fmt, table } from "../table.js";
import type { MillionResult } from "./million.js";

type Attempt = <T>(what: string, f: () => Promise<T>) => Promise<T | undefined>;

const SMALL = 50_000;
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
const byPhase = (p: { small: number; map: number; tree: number }) => `${fmt(p.small)} / ${fmt(p.map)} / ${fmt(p.tree)}`;
const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));

export async function millionSection(attempt: Attempt): Promise<void> {
  if (process.env.BENCH_SCALE_MILLION === "0") return;
  const v = Number(process.env.BENCH_SCALE_MILLION_N);
  const n = Number.isInteger(v) && v > 0 ? v : 1_000_000;
  // 2 ms a task (maps of n and SMALL, a tree of ~1.15 n), and two minutes to start and stop
  const timeout = 120_000 + (2 * n + SMALL + 1.2 * n) * 2;
  const r = await attempt(`scale million ${label(n)}`, async () =>
    parseResult<MillionResult>(await run(process.execPath, [dist("scale/million"), String(n), String(SMALL)], timeout), `scale million ${label(n)}`),
  );
  if (!r) return;
  const GiB = 2048;
  const rows = [
    [`map+gather of ${label(r.small)}, tasks/s (wall)`, fmt(r.smallRate), ""],
    [`map+gather of ${label(r.n)}, tasks/s (wall)`, fmt(r.rate), `>= the ${label(r.small)} rate: ${verdict(r.rate >= r.smallRate)} (${fmt((100 * r.rate) / r.smallRate)} %)`],
    [`tree of ${label(r.n)} leaves (fan-in ${r.fanIn}, ${fmt(r.treeTasks)} tasks), tasks/s`, fmt(r.treeRate), "completes, sum checked"],
    ["client peak RSS, MiB", fmt(r.clientPeakRssMiB), `< 2 GiB: ${verdict(r.clientPeakRssMiB < GiB)}`],
    ["scheduler peak RSS, MiB", fmt(r.schedulerPeakRssMiB), `< 2 GiB: ${verdict(r.schedulerPeakRssMiB < GiB)}`],
    ["  peak so far after each phase (small / map / tree), client", byPhase(r.peakRssMiB.client), ""],
    ["  peak so far after each phase, scheduler", byPhase(r.peakRssMiB.scheduler), ""],
    ["  CPU per task (small / map / tree), us, client", byPhase(r.cpuUsPerTask.client), ""],
    ["  CPU per task, us, scheduler", byPhase(r.cpuUsPerTask.scheduler), ""],
    ["  GC share of CPU, %, client", byPhase(r.gcPercent.client), ""],
    ["  GC share of CPU, %, scheduler", byPhase(r.gcPercent.scheduler), ""],
    ["scheduler's longest event-loop block, ms", fmt(r.maxStallMs), ""],
  ];
  console.log(`\nscale, a million tasks: dask-worker-ts --nworkers 2 (nannies, 1 thread), one scheduler, this client; every value checked\n`);
  console.log(table(["figure", "value", "target"], rows, "lrl"));
}
