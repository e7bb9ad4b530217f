/**
 * HTCondor: condor_submit / condor_q / condor_rm. The job script is a plain shell script (no
 * directives); the submit description (condor_submit's stdin) carries what directives carry
 * elsewhere: cores, memory, the walltime as a periodic removal, the extra directives as
 * `key = value` lines. Script and description text tested only: Debian 12 has no HTCondor
 * packages (HTCondor's own repository is out of reach of the test harness).
 */
import { JobQueueCluster } from "./cluster.js";
import type { JobQueueOptions, JobSpec } from "./options.js";
import { type Command, type JobState, type JobSystem, tableRows } from "./system.js";
import { walltimeMs } from "./walltime.js";

/** JobStatus: 1 idle, 2 running, 3 removed, 4 completed, 5 held, 6 transferring output, 7 suspended. */
const STATES: Record<string, JobState> = { "1": "pending", "2": "running", "3": "ending", "4": "ending", "5": "pending", "6": "running", "7": "running" };

/**
 * The submit description of `n` jobs (one `queue n`) running the script at `scriptPath`; each
 * job's id ("cluster.proc") reaches it in DASK_JOBQUEUE_JOB_ID.
 */
export function submitDescription(scriptPath: string, spec: JobSpec, n = 1): string {
  const wall = spec.walltime === null ? undefined : walltimeMs("htcondor", spec.walltime);
  return [
    "universe = vanilla",
    `executable = ${scriptPath}`,
    `batch_name = ${spec.jobName}`,
    `request_cpus = ${spec.cores}`,
    `request_memory = ${Math.ceil(spec.memory / 2 ** 20)}MB`,
    // the submitter's environment (PATH, ...), as sbatch hands it on
    "getenv = True",
    'environment = "DASK_JOBQUEUE_JOB_ID=$(ClusterId).$(ProcId)"',
    ...(wall === undefined ? [] : [`periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > ${wall / 1000})`]),
    ...(spec.logDirectory === null ? [] : [`output = ${spec.logDirectory}/${spec.jobName}-$(ClusterId).$(ProcId).out`, `error = ${spec.logDirectory}/${spec.jobName}-$(ClusterId).$(ProcId).err`, `log = ${spec.logDirectory}/${spec.jobName}-$(ClusterId).log`]),
    ...(spec.account === null ? [] : [`accounting_group = ${spec.account}`]),
    ...spec.jobExtraDirectives,
    `queue ${n}`,
  ].join("\n") + "\n";
}

export const htcondor: JobSystem = {
  name: "htcondor",
  className: "HTCondorCluster",
  // no directives in the script: the description carries them (extra directives go there too)
  directive: "",
  jobIdVar: "DASK_JOBQUEUE_JOB_ID",
  header: () => [],
  submit: (path, _script, spec): Command => ({ argv: ["condor_submit", "-terse"], stdin: submitDescription(path, spec) }),
  cancel: (ids) => ({ argv: ["condor_rm", ...ids] }),
  status: (user) => ({ argv: ["condor_q", user, "-af:j", "JobStatus"] }),
  // -terse: "12.0 - 12.3"
  jobIdPattern: /^(?<id>\d+\.\d+) - \d+\.\d+\s*$/m,
  parseStatus(stdout) {
    const out = new Map<string, JobState>();
    for (const [id, st = ""] of tableRows(stdout)) out.set(id!, STATES[st] ?? "ending");
    return out;
  },
  submitArray: (path, spec, n) => ({ argv: ["condor_submit", "-terse"], stdin: submitDescription(path, spec, n) }),
  arrayTaskIds: (id, n) => Array.from({ length: n }, (_, i) => `${id.split(".")[0]}.${i}`),
  arrayTaskIdExpr: "$DASK_JOBQUEUE_JOB_ID",
  // condor_q -af:j HoldReason LastRejMatchReason: why a job is held or not matched
  reasons: (ids) => [{ argv: ["condor_q", ...ids, "-af:j", "HoldReason", "LastRejMatchReason"] }],
  parseReasons([out = ""], ids) {
    const res = new Map<string, string>();
    for (const line of out.split("\n")) {
      const m = /^(\d+\.\d+)\s+(.*)$/.exec(line.trim());
      if (!m || !ids.includes(m[1]!)) continue;
      const why = m[2]!.split(/\s+(?=\S)/).filter((w) => w !== "undefined").join(" ");
      if (why) res.set(m[1]!, why);
    }
    return res;
  },
};

/** Workers as HTCondor jobs; the scheduler runs in this process. */
export class HTCondorCluster extends JobQueueCluster {
  static create(options: JobQueueOptions = {}): Promise<HTCondorCluster> {
    return JobQueueCluster.startCluster(HTCondorCluster, htcondor, options);
  }
}
