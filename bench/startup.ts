/**
 * Start-up section: time from launching `mpirun -np 4` to the first task result on rank 1,
 * for the CLI (`dask-mpi-ts SCRIPT`, with and without the nanny) and initialize() modes,
 * against a baseline run in the same script: mpirun -np 4 + addon load + MPI_Init + barrier.
 * When /usr/bin/python3 has mpi4py and distributed, Python Dask's start-up is measured the same
 * way (bench/python/dask_mpi_start.py: an initialize()-equivalent of dask-mpi, scheduler on
 * rank 0, client on rank 1, nanny + one-thread worker on ranks 2-3), with its own baseline
 * (mpi4py's MPI_Init + barrier). The modes take turns, one run each per round, so a change in
 * the machine's load falls on all of them alike. Reports median and range of several runs
 * (BENCH_RUNS, default 7, after one warm-up round), and each mode's median over its baseline's.
 */
import path from "node:path";
import { cli, dist, median, mpirunFlags, root, run } from "./runner.js";

async function once(command: string, args: string[]): Promise<number> {
  const r = await run("mpirun", [...mpirunFlags, command, ...args], 120_000, { DASK_DISTRIBUTED__LOGGING__DISTRIBUTED: "error" });
  const m = /FIRST_RESULT (\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`run failed (${r.timedOut ? "timed out" : `exit ${r.code}`}): ${command} ${args.join(" ")}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  return Number(m[1]) - r.startedAt;
}

export interface StartupRow {
  mode: string;
  median: number;
  min: number;
  max: number;
  /** The mode's median over the median of its language's baseline (mpirun + MPI_Init + barrier). */
  ofBaseline: number;
  /** Runs that failed (not in the figures), and the first failure's output. */
  failed: number;
  error?: string;
}

interface Mode {
  mode: string;
  command: string;
  args: string[];
  /** Index of the baseline row this mode is divided by. */
  baseline: number;
}

export async function startup(runs: number, python?: string): Promise<StartupRow[]> {
  const node = process.execPath;
  const modes: Mode[] = [
    { mode: "baseline: mpirun -np 4 + MPI_Init + barrier (node)", command: node, args: [dist("fixtures/mpi-init")], baseline: 0 },
    { mode: "dask-mpi-ts SCRIPT (nanny)", command: node, args: [cli, "--interface", "lo", "--log-level", "warn", dist("fixtures/first-result")], baseline: 0 },
    { mode: "dask-mpi-ts SCRIPT --no-nanny", command: node, args: [cli, "--interface", "lo", "--log-level", "warn", "--no-nanny", dist("fixtures/first-result")], baseline: 0 },
    { mode: "initialize() (nanny)", command: node, args: [dist("fixtures/init-first-result")], baseline: 0 },
  ];
  if (python) {
    const script = path.join(root, "bench/python/dask_mpi_start.py");
    const b = modes.length;
    modes.push(
      { mode: "baseline: mpirun -np 4 + mpi4py MPI_Init + barrier (python3)", command: python, args: [script, "baseline"], baseline: b },
      { mode: "Python Dask: initialize()-equivalent (mpi4py, nanny)", command: python, args: [script], baseline: b },
    );
  }
  const times: number[][] = modes.map(() => []);
  const failed = modes.map(() => 0);
  const errors: Array<string | undefined> = modes.map(() => undefined);
  // Round 0 only warms the file cache. A failed run is counted, not fatal: the other runs and
  // modes still give their figures.
  for (let i = 0; i <= runs; i++) {
    for (const [k, m] of modes.entries()) {
      try {
        const t = await once(m.command, m.args);
        if (i > 0) times[k]!.push(t);
      } catch (err) {
        failed[k]!++;
        errors[k] ??= err instanceof Error ? err.message : String(err);
      }
    }
  }
  const medians = times.map((xs) => (xs.length ? median(xs) : NaN));
  return modes.map((m, k) => ({
    mode: m.mode,
    median: medians[k]!,
    min: Math.min(...times[k]!),
    max: Math.max(...times[k]!),
    ofBaseline: medians[k]! / medians[m.baseline]!,
    failed: failed[k]!,
    error: errors[k],
  }));
}
