/** IBM Spectrum LSF: bsub / bjobs / bkill, `#BSUB` directives. Script text tested only: Debian has no LSF packages. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { JobQueueCluster } from "./cluster.js";
import type { LSFOptions } from "./options.js";
import { type JobState, type JobSystem, tableRows } from "./system.js";

const POWERS: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

/**
 * Bytes as `-M` takes them in the cluster's LSF_UNIT_FOR_LIMITS (decimal), rounded up.
 * @example lsfMemory(25e9, "mb") // "25000"
 */
export function lsfMemory(n: number, units: string): string {
  return String(Math.ceil(n / 1000 ** POWERS[units[0]!.toLowerCase()]!));
}

/** LSF_UNIT_FOR_LIMITS from lsf.conf ($LSF_ENVDIR, else /etc), else LSF's default "kb". Reads a file: used by the cluster, not the renderer. */
export function detectLsfUnits(env: NodeJS.ProcessEnv = process.env): string {
  try {
    const text = readFileSync(path.join(env.LSF_ENVDIR ?? env.LSF_CONFDIR ?? "/etc", "lsf.conf"), "utf8");
    const lines = text.split("\n").filter((l) => l.trim().startsWith("LSF_UNIT_FOR_LIMITS"));
    const unit = lines.at(-1)?.split("=")[1]?.trim().toLowerCase();
    if (unit && unit[0]! in POWERS) return unit;
  } catch {
    // no lsf.conf here: LSF's own default
  }
  return "kb";
}

const RUNNING = new Set(["RUN", "USUSP", "SSUSP"]);
const PENDING = new Set(["PEND", "PSUSP", "WAIT"]);

export const lsf: JobSystem = {
  name: "lsf",
  className: "LSFCluster",
  directive: "#BSUB",
  jobIdVar: "LSB_JOBID",
  header(s) {
    const d = (x: string) => `#BSUB ${x}`;
    const ncpus = s.jobCpu ?? s.cores;
    return [
      d(`-J ${s.jobName}`),
      ...(s.logDirectory === null ? [] : [d(`-e ${s.logDirectory}/${s.jobName}-%J.err`), d(`-o ${s.logDirectory}/${s.jobName}-%J.out`)]),
      ...(s.queue === null ? [] : [d(`-q ${s.queue}`)]),
      ...(s.account === null ? [] : [d(`-P "${s.account}"`)]),
      d(`-n ${ncpus}`),
      // one host for all of a job's cores; not needed (and may cost queue time) for one core
      ...(ncpus > 1 ? [d('-R "span[hosts=1]"')] : []),
      d(`-M ${lsfMemory(s.lsfMem ?? s.memory, s.lsfUnits ?? "kb")}`),
      ...(s.walltime === null ? [] : [d(`-W ${s.walltime}`)]),
    ];
  },
  submit: (file, script, spec) => (spec.useStdin ? { argv: ["bsub"], stdin: script } : { argv: ["bsub", file] }),
  cancel: (ids) => ({ argv: ["bkill", ...ids] }),
  status: (user) => ({ argv: ["bjobs", "-w", "-u", user] }),
  // Job <1234> is submitted to queue <normal>.
  jobIdPattern: /Job <(?<id>\d+)>/,
  parseStatus(stdout) {
    // JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME
    const out = new Map<string, JobState>();
    for (const f of tableRows(stdout)) {
      const st = f[2] ?? "";
      out.set(f[0]!, RUNNING.has(st) ? "running" : PENDING.has(st) ? "pending" : "ending");
    }
    return out;
  },
  localDefaults: (spec) => (spec.lsfUnits === null ? { ...spec, lsfUnits: detectLsfUnits() } : spec),
  noJobs: (stderr) => /No (unfinished )?job found/i.test(stderr),
};

/** Workers as LSF jobs; the scheduler runs in this process. */
export class LSFCluster extends JobQueueCluster {
  static create(options: LSFOptions = {}): Promise<LSFCluster> {
    return JobQueueCluster.startCluster(LSFCluster, lsf, options);
  }
}
