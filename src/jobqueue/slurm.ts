/** SLURM: sbatch / squeue / scancel, `#SBATCH` directives, memory in SLURM's units. */
import { JobQueueCluster } from "./cluster.js";
import type { SLURMOptions } from "./options.js";
import { type JobState, type JobSystem, tableRows } from "./system.js";

/**
 * Bytes as `--mem` takes them, rounded up: SLURM's K/M/G are KiB/MiB/GiB.
 * @example slurmMemory(28e9) // "27G"
 */
export function slurmMemory(n: number): string {
  for (const [unit, size] of [["G", 2 ** 30], ["M", 2 ** 20]] as const) if (n >= size) return `${Math.ceil(n / size)}${unit}`;
  return `${Math.max(1, Math.ceil(n / 1024))}K`;
}

const PENDING = new Set(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED"]);

export const slurm: JobSystem = {
  name: "slurm",
  className: "SLURMCluster",
  directive: "#SBATCH",
  jobIdVar: "SLURM_JOB_ID",
  header(s) {
    const d = (x: string) => `#SBATCH ${x}`;
    return [
      d(`-J ${s.jobName}`),
      ...(s.logDirectory === null ? [] : [d(`-e ${s.logDirectory}/${s.jobName}-%J.err`), d(`-o ${s.logDirectory}/${s.jobName}-%J.out`)]),
      ...(s.queue === null ? [] : [d(`-p ${s.queue}`)]),
      ...(s.account === null ? [] : [d(`-A ${s.account}`)]),
      d("-n 1"),
      d(`--cpus-per-task=${s.jobCpu ?? s.cores}`),
      d(`--mem=${s.jobMem ?? slurmMemory(s.memory)}`),
      ...(s.walltime === null ? [] : [d(`-t ${s.walltime}`)]),
    ];
  },
  submit: (path) => ({ argv: ["sbatch", "--parsable", path] }),
  cancel: (ids) => ({ argv: ["scancel", ...ids] }),
  // --array: one line per array task ("123_4"), pending ones too
  status: (user) => ({ argv: ["squeue", "--noheader", "--array", "--format=%i %T", `--user=${user}`] }),
  // --parsable prints "id" or "id;cluster" as its last line; site banners may come before it
  jobIdPattern: /^(?<id>\d+)(?:;\S+)?\s*$/m,
  parseStatus(stdout) {
    const out = new Map<string, JobState>();
    for (const [id, st = ""] of tableRows(stdout)) out.set(id!, st === "RUNNING" ? "running" : PENDING.has(st) ? "pending" : "ending");
    return out;
  },
  submitArray: (path, _spec, n, throttle) => ({ argv: ["sbatch", "--parsable", `--array=0-${n - 1}${throttle === null ? "" : `%${throttle}`}`, path] }),
  arrayTaskIds: (id, n) => Array.from({ length: n }, (_, i) => `${id}_${i}`),
  arrayTaskIdExpr: "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}",
  // %r: why a pending job waits (Resources, Priority, QOSMaxJobsPerUserLimit, JobArrayTaskLimit, ...)
  reasons: (_ids, user) => [{ argv: ["squeue", "--noheader", "--array", "--states=PENDING", "--format=%i|%r", `--user=${user}`] }],
  parseReasons([out = ""], ids) {
    const all = new Map<string, string>();
    for (const line of out.split("\n")) {
      const [id, reason] = line.trim().split("|");
      if (id && reason) all.set(id, reason);
    }
    return new Map(ids.filter((id) => all.has(id)).map((id) => [id, all.get(id)!]));
  },
};

/**
 * Workers as SLURM jobs; the scheduler runs in this process.
 * @example
 * const cluster = await SLURMCluster.create({ cores: 8, memory: "28GB", queue: "regular", walltime: "01:00:00" });
 * await cluster.scale(4);
 * const client = await Client.connect(cluster);
 */
export class SLURMCluster extends JobQueueCluster {
  static create(options: SLURMOptions = {}): Promise<SLURMCluster> {
    return JobQueueCluster.startCluster(SLURMCluster, slurm, options);
  }
}
