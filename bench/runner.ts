/**
 * Bench runner: launches one process (a benchmark case under `mpirun -np 4`, the Python Dask
 * script, or a raw-TCP peer) with a hard deadline, captures its output, and parses the JSON
 * result line the case prints (`BENCH_JSON {...}`). On timeout or failure the whole process
 * group is sent SIGTERM, then SIGKILL, so nothing a case started outlives it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export { median, percentile } from "./fixtures/common.js";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const cli = path.join(root, "bin/dask-mpi-ts.js");
export const mpirunFlags = [...(process.getuid?.() === 0 ? ["--allow-run-as-root"] : []), "--oversubscribe", "-np", "4"];

/** A compiled bench file, e.g. `dist("fixtures/throughput")`. */
export function dist(name: string): string {
  return path.join(root, "dist/bench", `${name}.js`);
}

/** Runs of each case: BENCH_RUNS, or the case's own default. */
export function runsOr(fallback: number): number {
  const n = Number(process.env.BENCH_RUNS);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Wall-clock time of the spawn, for cases that time the launch itself. */
  startedAt: number;
}

/** The processes still running, so an interrupted bench can take them down. */
const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal); // detached: the child leads its own process group
  } catch {
    // already gone
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const child of live) killGroup(child, "SIGKILL");
    process.exit(130);
  });
}

/** Run `command args` to completion or `timeoutMs`, whichever comes first. Never rejects. */
export function run(command: string, args: string[], timeoutMs: number, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const child = spawn(command, args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, DASK_MPI_TS_LOG_LEVEL: "warn", ...env },
    });
    live.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    let hardKill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      // mpirun forwards SIGTERM to its ranks; SIGKILL is the backstop for anything left.
      killGroup(child, "SIGTERM");
      hardKill = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      live.delete(child);
      // Whatever the case left in its group (a rank mpirun lost track of, a nanny child) goes too.
      killGroup(child, "SIGKILL");
      resolve({ code, signal, stdout, stderr, timedOut, startedAt });
    };
    child.on("error", (err) => {
      stderr += String(err);
      finish(null, null);
    });
    child.on("close", finish);
  });
}

/** The last `BENCH_JSON {...}` line of a run's stdout, or an error describing the failure. */
export function parseResult<T>(r: Run, what: string): T {
  const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("BENCH_JSON "));
  if (r.code === 0 && line) return JSON.parse(line.slice("BENCH_JSON ".length)) as T;
  const why = r.timedOut ? "timed out" : `exit ${r.code ?? r.signal}`;
  const tail = (s: string) => s.trim().split("\n").slice(-15).join("\n");
  throw new Error(`${what} failed (${why})\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
}

/** Run a bench fixture as the client script of `mpirun -np 4 dask-mpi-ts` and parse its JSON. */
export async function runCase<T>(name: string, timeoutMs: number, env: Record<string, string> = {}): Promise<T> {
  const args = [...mpirunFlags, process.execPath, cli, "--interface", "lo", "--log-level", "warn", dist(`fixtures/${name}`)];
  return parseResult<T>(await run("mpirun", args, timeoutMs, env), `case ${name}`);
}
