/**
 * Start-up section: time from launching `mpirun -np 4` to the first task result on rank 1,
 * for the CLI (`dask-mpi-ts SCRIPT`, with and without the nanny) and initialize() modes,
 * against a baseline run in the same script: mpirun -np 4 + addon load + MPI_Init + barrier.
 * Reports median and range of several runs (BENCH_RUNS, default 7), and each mode's median
 * over the baseline's.
 */
import { cli, dist, median, mpirunFlags, run } from "./runner.js";

async function once(args: string[]): Promise<number> {
  const r = await run("mpirun", [...mpirunFlags, process.execPath, ...args], 60_000);
  const m = /FIRST_RESULT (\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`run failed (${r.timedOut ? "timed out" : `exit ${r.code}`}): ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]) - r.startedAt;
}

export interface StartupRow {
  mode: string;
  median: number;
  min: number;
  max: number;
  ofBaseline: number;
  /** Runs that failed (not in the figures), and the first failure's output. */
  failed: number;
  error?: string;
}

export async function startup(runs: number): Promise<StartupRow[]> {
  const modes: Array<[string, string[]]> = [
    ["baseline: mpirun -np 4 + MPI_Init + barrier", [dist("fixtures/mpi-init")]],
    ["dask-mpi-ts SCRIPT (nanny)", [cli, "--interface", "lo", "--log-level", "warn", dist("fixtures/first-result")]],
    ["dask-mpi-ts SCRIPT --no-nanny", [cli, "--interface", "lo", "--log-level", "warn", "--no-nanny", dist("fixtures/first-result")]],
    ["initialize() (nanny)", [dist("fixtures/init-first-result")]],
  ];
  const rows: StartupRow[] = [];
  for (const [mode, args] of modes) {
    const times: number[] = [];
    let failed = 0;
    let error: string | undefined;
    // The first run only warms the file cache. A failed run is counted, not fatal: the other
    // runs and modes still give their figures.
    for (let i = 0; i <= runs; i++) {
      try {
        const t = await once(args);
        if (i > 0) times.push(t);
      } catch (err) {
        failed++;
        error ??= err instanceof Error ? err.message : String(err);
      }
    }
    const m = times.length ? median(times) : NaN;
    rows.push({ mode, median: m, min: Math.min(...times), max: Math.max(...times), ofBaseline: m / (rows[0]?.median ?? m), failed, error });
  }
  return rows;
}
