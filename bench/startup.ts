/**
 * Start-up benchmark: time from launching `mpirun -np 4` to the first task result on rank 1,
 * for the CLI (`dask-mpi-ts SCRIPT`, with and without the nanny) and initialize() modes,
 * against a baseline run in the same script: mpirun -np 4 + addon load + MPI_Init + barrier.
 * Prints median and range of several runs, and each mode's median over the baseline's.
 *
 *   npm run bench            (BENCH_RUNS=N to change the number of runs, default 7)
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const fixture = (name: string) => path.join(root, "dist/bench/fixtures", `${name}.js`);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const mpirunFlags = [...(process.getuid?.() === 0 ? ["--allow-run-as-root"] : []), "--oversubscribe", "-np", "4"];

function once(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn("mpirun", [...mpirunFlags, process.execPath, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DASK_MPI_TS_LOG_LEVEL: "warn" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const m = /FIRST_RESULT (\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`run failed (exit ${code}): ${args.join(" ")}\n${out}\n${err}`));
      else resolve(Number(m[1]) - t0);
    });
  });
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

async function measure(args: string[]): Promise<Stats> {
  await once(args); // warm the file cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once(args));
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times[times.length - 1]! };
}

const cli = path.join(root, "bin/dask-mpi-ts.js");
const modes: Array<[string, string[]]> = [
  ["baseline: mpirun -np 4 + MPI_Init + barrier", [fixture("mpi-init")]],
  ["dask-mpi-ts SCRIPT (nanny)", [cli, "--interface", "lo", "--log-level", "warn", fixture("first-result")]],
  ["dask-mpi-ts SCRIPT --no-nanny", [cli, "--interface", "lo", "--log-level", "warn", "--no-nanny", fixture("first-result")]],
  ["initialize() (nanny)", [fixture("init-first-result")]],
];

console.log(`time from mpirun -np 4 to the first result on rank 1, ${runs} runs each (ms)`);
let baseline: number | undefined;
for (const [name, args] of modes) {
  const s = await measure(args);
  baseline ??= s.median;
  const ratio = (s.median / baseline).toFixed(2);
  console.log(`${name.padEnd(46)} median ${String(s.median).padStart(5)}  range ${s.min}-${s.max}  x${ratio} of baseline`);
}
