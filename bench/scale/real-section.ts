/**
 * The real-workers part of the scale section (issue 15, point 6): bench/scale/real.ts in a
 * process of its own, `dask-worker-ts --nworkers BIG` (with nannies) against the same with
 * SMALL, alternating, equal rounds; prints join time (target < 20 s at 100), the map+gather
 * rate against SMALL's (target >= 80 %), the whole worker tree's memory, and, when the join
 * misses its target, what bounds it: the start-up CPU of every process against the cores.
 *   BENCH_SCALE_REAL=0              skip it
 *   BENCH_SCALE_REAL_WORKERS=N      BIG (default 100; SMALL is 2)
 *   BENCH_SCALE_REAL_TASKS=N        tasks in each map+gather (default 20,000)
 *   BENCH_SCALE_REAL_ROUNDS=N       rounds, each one run of BIG and one of SMALL (default 2)
 */
import { dist, median, parseResult, run } from "../runner.js";
import { fmt, table } from "../table.js";
import type { RealRun } from "./real.js";

type Attempt = <T>(what: string, f: () => Promise<T>) => Promise<T | undefined>;

interface RealResult {
  cores: number;
  memoryLimit: string;
  tasks: number;
  floor: { bareNodeCpuMs: number; workerCodeCpuMs: number };
  runs: RealRun[];
}

const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
const SMALL = 2;

export async function realWorkersSection(attempt: Attempt): Promise<void> {
  if (process.env.BENCH_SCALE_REAL === "0") return;
  const big = envInt("BENCH_SCALE_REAL_WORKERS", 100);
  const tasks = envInt("BENCH_SCALE_REAL_TASKS", 20_000);
  const rounds = envInt("BENCH_SCALE_REAL_ROUNDS", 2);
  // a join of 300 s at most, 2 ms a task, and a minute to stop, per run
  const timeout = 2 * rounds * (400_000 + tasks * 2);
  const r = await attempt(`scale real workers ${big}`, async () =>
    parseResult<RealResult>(await run(process.execPath, [dist("scale/real"), String(big), String(SMALL), String(tasks), String(rounds)], timeout), `scale real workers ${big}`),
  );
  if (!r) return;
  const at = (w: number) => r.runs.filter((x) => x.workers === w);
  const med = (w: number, get: (x: RealRun) => number) => median(at(w).map(get));
  const rows: string[][] = [];
  const row = (name: string, get: (x: RealRun) => number, target = "") => rows.push([name, fmt(med(big, get)), fmt(med(SMALL, get)), target]);
  const joined = med(big, (x) => x.joinedMs);
  const ratio = med(big, (x) => x.rate) / med(SMALL, (x) => x.rate);
  row("join: spawn -> all workers held, ms", (x) => x.joinedMs, big >= 100 ? `< 20,000: ${verdict(joined < 20_000)}` : "");
  row("  spawn -> first worker held, ms", (x) => x.firstMs);
  row("  spawn -> all processes exist, ms", (x) => x.spawnedMs);
  row("  start-up CPU per process, ms", (x) => x.startCpuMsPerProcess, "whole tree's CPU until joined / processes");
  row(`map+gather of ${fmt(tasks)}, tasks/s (wall)`, (x) => x.rate, `${big}/${SMALL}: ${fmt(ratio * 100)} %${big >= 100 ? `, >= 80 %: ${verdict(ratio >= 0.8)}` : ""}`);
  row("  scheduler CPU per task, us", (x) => x.schedulerCpuUsPerTask);
  row("  worker tree CPU per task, us", (x) => x.workersCpuUsPerTask, "all its processes");
  row("  client CPU per task, us", (x) => x.clientCpuUsPerTask);
  row("  sum => tasks/s on all cores", (x) => (r.cores * 1e6) / (x.schedulerCpuUsPerTask + x.workersCpuUsPerTask + x.clientCpuUsPerTask), "the rate's CPU bound");
  row("idle worker tree CPU, % of a core", (x) => x.idleCorePercent, "over 3 s with nothing to run");
  row("idle scheduler CPU, % of a core", (x) => x.schedulerIdleCorePercent);
  row("worker tree RSS, MiB (sum)", (x) => x.rssMiB, "shared pages counted in every process");
  row("worker tree PSS, MiB", (x) => x.pssMiB, "shared pages split among the processes");
  rows.push(["processes", String(med(big, (x) => x.processes)), String(med(SMALL, (x) => x.processes)), "the command (its nannies) + one per worker"]);
  console.log(
    `\nscale, real workers: dask-worker-ts --nworkers ${big} and ${SMALL} (nannies, 1 thread, --memory-limit ${r.memoryLimit}) through a scheduler file, ${rounds} round(s) alternating, medians\n`,
  );
  console.log(table(["figure", String(big), String(SMALL), "target"], rows, "lrrl"));
  const perProc = med(big, (x) => x.startCpuMsPerProcess);
  const procs = med(big, (x) => x.processes);
  const floor = (procs * perProc) / r.cores / 1000;
  console.log(
    `start-up: ${procs} processes x ${fmt(perProc)} ms of CPU = ${fmt((procs * perProc) / 1000)} s on ${r.cores} cores: a join takes >= ${fmt(floor)} s` +
      ` (of each process's ${fmt(perProc)} ms: ${fmt(r.floor.bareNodeCpuMs)} node itself, +${fmt(r.floor.workerCodeCpuMs - r.floor.bareNodeCpuMs)} loading the worker's code;` +
      ` the rest forking, connecting, registering and the first heartbeats)`,
  );
  console.log("every process ended after SIGTERM to the command (checked through /proc; a leak fails the run)");
}
