/** PBS (PBS Pro, OpenPBS, Torque): qsub / qstat / qdel, `#PBS` directives. Script text tested only: Debian has no PBS packages. */
import { JobQueueCluster } from "./cluster.js";
import type { JobQueueOptions } from "./options.js";
import { type JobState, type JobSystem, tableRows } from "./system.js";

/**
 * Bytes as PBS's mem= takes them, rounded up: its kb/mb/gb are KiB/MiB/GiB, and the unit
 * stays small enough that rounding up costs under 10 %.
 * @example pbsMemory(100e9) // "94GB"
 */
export function pbsMemory(n: number): string {
  for (const [unit, size] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["kB", 2 ** 10]] as const) if (n >= 10 * size) return `${Math.ceil(n / size)}${unit}`;
  return `${n}B`;
}

export const pbs: JobSystem = {
  name: "pbs",
  className: "PBSCluster",
  directive: "#PBS",
  jobIdVar: "PBS_JOBID",
  header(s) {
    const d = (x: string) => `#PBS ${x}`;
    return [
      d(`-N ${s.jobName}`),
      ...(s.queue === null ? [] : [d(`-q ${s.queue}`)]),
      ...(s.account === null ? [] : [d(`-A ${s.account}`)]),
      d(`-l ${s.resourceSpec ?? `select=1:ncpus=${s.cores}:mem=${pbsMemory(s.memory)}`}`),
      ...(s.walltime === null ? [] : [d(`-l walltime=${s.walltime}`)]),
      ...(s.logDirectory === null ? [] : [d(`-e ${s.logDirectory}/`), d(`-o ${s.logDirectory}/`)]),
    ];
  },
  submit: (path) => ({ argv: ["qsub", path] }),
  cancel: (ids) => ({ argv: ["qdel", ...ids] }),
  status: (user) => ({ argv: ["qstat", "-u", user] }),
  // "1234.server"
  jobIdPattern: /^(?<id>\d+(?:\.[\w.-]+)?)\s*$/m,
  parseStatus(stdout) {
    // qstat -u: Job ID, Username, Queue, Jobname, SessID, NDS, TSK, Memory, Time, S, Time
    const out = new Map<string, JobState>();
    for (const f of tableRows(stdout)) {
      const st = f[f.length - 2] ?? "";
      out.set(f[0]!.replace(/\*$/, ""), "RB".includes(st) ? "running" : "QHWTS".includes(st) ? "pending" : "ending");
    }
    return out;
  },
  // PBS Pro: -J 0-N; a task is "1234[2].server"
  submitArray: (path, _spec, n) => ({ argv: ["qsub", "-J", `0-${n - 1}`, path] }),
  arrayTaskIds: (id, n) => Array.from({ length: n }, (_, i) => id.replace("[]", `[${i}]`)),
  arrayTaskIdExpr: "$PBS_JOBID",
};

/** Workers as PBS jobs; the scheduler runs in this process. */
export class PBSCluster extends JobQueueCluster {
  static create(options: JobQueueOptions = {}): Promise<PBSCluster> {
    return JobQueueCluster.startCluster(PBSCluster, pbs, options);
  }
}
