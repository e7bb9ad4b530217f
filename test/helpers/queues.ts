/**
 * Real queue systems for the job-queue tests, single-node, started by .ci/slurm-setup.sh and
 * .ci/sge-setup.sh (they install the packages if missing and are idempotent). In CI (inCi()) a
 * queue system must come up (its tests fail otherwise), whatever DASK_MPI_TS_SKIP_JOBQUEUE says;
 * a developer without it, or with DASK_MPI_TS_SKIP_JOBQUEUE=1, gets the tests skipped with the reason.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { userInfo } from "node:os";
import path from "node:path";
import { ROOT } from "./cluster.js";
import { ciMissing, inCi } from "./skip.js";

const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Setup scripts run by this process whose daemons it started, so stops when it exits. */
const started = new Set<string>();

/**
 * Undefined when the queue system is up; else why its tests are skipped. Throws under CI when it
 * cannot be started. A queue system that was not up before is stopped again when the test run
 * ends (its teardown script, beside the setup script, stops only what the setup started).
 */
function ensureQueue(q: { name: string; submit: string; probe: string[]; setup: string }): string | undefined {
  const ci = inCi();
  // the opt-out is for developers; it does not override CI
  if (!ci && process.env.DASK_MPI_TS_SKIP_JOBQUEUE === "1") return "DASK_MPI_TS_SKIP_JOBQUEUE=1";
  if (!ci && !onPath(q.submit)) return `${q.submit} is not installed (CI=true installs and starts ${q.name} with ${q.setup})`;
  const up = onPath(q.submit) && spawnSync(q.probe[0]!, q.probe.slice(1), { stdio: "ignore", timeout: 30_000 }).status === 0;
  if (!ci && !up && process.getuid?.() !== 0) return `${q.name} is not running and only root can start it (${q.setup})`;
  if (!up && !started.has(q.setup)) {
    if (started.size === 0) process.once("exit", stopStarted);
    started.add(q.setup);
  }
  const r = spawnSync("bash", [path.join(ROOT, q.setup)], { encoding: "utf8", timeout: 900_000 });
  if (r.status !== 0) {
    const why = `${q.setup} failed (status ${r.status}): ${(r.stderr || String(r.error ?? "")).trim().split("\n").slice(-10).join("\n")}`;
    if (ci) throw ciMissing(why);
    return why;
  }
  return undefined;
}

/** At exit: the teardown of each queue system this process started (synchronous: an exit handler). */
function stopStarted(): void {
  for (const setup of started) {
    const teardown = path.join(ROOT, setup.replace(/-setup\.sh$/, "-teardown.sh"));
    const r = spawnSync("bash", [teardown], { encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) process.stderr.write(`${teardown} failed (status ${r.status}): ${(r.stderr || String(r.error ?? "")).trim()}\n`);
  }
}

export const ensureSlurm = () => ensureQueue({ name: "SLURM", submit: "sbatch", probe: ["sinfo", "-h"], setup: ".ci/slurm-setup.sh" });
export const ensureOar = () => ensureQueue({ name: "OAR", submit: "oarsub", probe: ["oarnodes", "-s"], setup: ".ci/oar-setup.sh" });
export const ensureSge = () => ensureQueue({ name: "Grid Engine", submit: "qsub", probe: ["qstat", "-f"], setup: ".ci/sge-setup.sh" });

/** Ids of the jobs SLURM lists now (any state). */
export function squeueIds(): string[] {
  return execFileSync("squeue", ["--noheader", "--format=%i"], { encoding: "utf8" }).split("\n").map((s) => s.trim()).filter(Boolean);
}

/** Ids of this user's jobs Grid Engine lists now (any state): array tasks as "45.1" too, besides "45". */
export function qstatIds(): string[] {
  return execFileSync("qstat", ["-u", userInfo().username], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+$/.test(f[0] ?? ""))
    .flatMap((f) => {
      const rest = f.slice(7);
      if (rest[0]?.includes("@")) rest.shift();
      return [f[0]!, ...(rest[1] === undefined ? [] : sgeTasksOf(rest[1]).map((t) => `${f[0]}.${t}`))];
    });
}

function sgeTasksOf(text: string): number[] {
  return text.split(",").flatMap((part) => {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part);
    if (!m) return [];
    const out: number[] = [];
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i += Number(m[3] ?? 1)) out.push(i);
    return out;
  });
}

/** Ids of the jobs OAR lists now (any state). */
export function oarstatIds(): string[] {
  return execFileSync("oarstat", { encoding: "utf8" })
    .split("\n")
    .map((l) => /^(\d+)\s/.exec(l)?.[1])
    .filter((id): id is string => id !== undefined);
}
