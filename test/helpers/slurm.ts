/**
 * Real SLURM for the job-queue tests: a single-node SLURM (munge, slurmctld, slurmd) started
 * by .ci/slurm-setup.sh, which installs it if missing and is idempotent. Under CI=true SLURM
 * must come up (the tests fail otherwise); a developer without it, or with
 * DASK_MPI_TS_SKIP_JOBQUEUE=1, gets the tests skipped with the reason.
 */
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";
import { ROOT } from "./cluster.js";

const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Undefined when SLURM is up; else why the tests are skipped. Throws under CI when SLURM cannot be started. */
export function ensureSlurm(): string | undefined {
  if (process.env.DASK_MPI_TS_SKIP_JOBQUEUE === "1") return "DASK_MPI_TS_SKIP_JOBQUEUE=1";
  const ci = process.env.CI === "true";
  if (!ci && !onPath("sbatch")) return "sbatch is not installed (CI=true installs and starts SLURM with .ci/slurm-setup.sh)";
  if (!ci && process.getuid?.() !== 0 && spawnSync("sinfo", ["-h"]).status !== 0) return "SLURM is not running and only root can start it (.ci/slurm-setup.sh)";
  const r = spawnSync("bash", [path.join(ROOT, ".ci/slurm-setup.sh")], { encoding: "utf8", timeout: 900_000 });
  if (r.status !== 0) {
    const why = `.ci/slurm-setup.sh failed (status ${r.status}): ${(r.stderr || String(r.error ?? "")).trim().split("\n").slice(-10).join("\n")}`;
    if (ci) throw new Error(why);
    return why;
  }
  return undefined;
}

/** Ids of the jobs SLURM lists now (any state). */
export function squeueIds(): string[] {
  return execFileSync("squeue", ["--noheader", "--format=%i"], { encoding: "utf8" }).split("\n").map((s) => s.trim()).filter(Boolean);
}
