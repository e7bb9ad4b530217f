/** (Son of) Grid Engine: qsub / qstat / qdel, `#$` directives. */
import { JobQueueCluster } from "./cluster.js";
import type { JobQueueOptions } from "./options.js";
import { type JobState, type JobSystem, tableRows } from "./system.js";

export const sge: JobSystem = {
  name: "sge",
  className: "SGECluster",
  directive: "#$",
  jobIdVar: "JOB_ID",
  header(s) {
    const d = (x: string) => `#$ ${x}`;
    return [
      d(`-N ${s.jobName}`),
      ...(s.queue === null ? [] : [d(`-q ${s.queue}`)]),
      ...(s.account === null ? [] : [d(`-P ${s.account}`)]),
      ...(s.resourceSpec === null ? [] : [d(`-l ${s.resourceSpec}`)]),
      ...(s.walltime === null ? [] : [d(`-l h_rt=${s.walltime}`)]),
      ...(s.logDirectory === null ? [] : [d(`-e ${s.logDirectory}/`), d(`-o ${s.logDirectory}/`)]),
      d("-cwd"),
      d("-j y"),
    ];
  },
  submit: (path) => ({ argv: ["qsub", path] }),
  cancel: (ids) => ({ argv: ["qdel", ...ids] }),
  status: (user) => ({ argv: ["qstat", "-u", user] }),
  // Your job 12 ("dask-worker") has been submitted
  jobIdPattern: /Your job(?:-array)? (?<id>\d+)/,
  parseStatus(stdout) {
    // job-ID prior name user state submit/start-at queue slots
    const out = new Map<string, JobState>();
    for (const f of tableRows(stdout)) {
      const st = f[4] ?? "";
      out.set(f[0]!, st.includes("d") ? "ending" : /[rt]/.test(st) ? "running" : "pending");
    }
    return out;
  },
};

/** Workers as Grid Engine jobs; the scheduler runs in this process. */
export class SGECluster extends JobQueueCluster {
  static create(options: JobQueueOptions = {}): Promise<SGECluster> {
    return JobQueueCluster.startCluster(SGECluster, sge, options);
  }
}
