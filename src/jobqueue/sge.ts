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
    // job-ID prior name user state submit/start-at queue slots ja-task-ID: the queue only once
    // running, the tasks only for an array job ("1-4:1" or "3,5" pending, "2" running)
    const out = new Map<string, JobState>();
    for (const f of tableRows(stdout)) {
      const st = f[4] ?? "";
      const state: JobState = st.includes("d") ? "ending" : /[rt]/.test(st) ? "running" : "pending";
      const rest = f.slice(7);
      if (rest[0]?.includes("@")) rest.shift();
      const tasks = rest[1];
      if (tasks === undefined) out.set(f[0]!, state);
      else for (const t of sgeTasks(tasks)) out.set(`${f[0]}.${t}`, state);
    }
    return out;
  },
  submitArray: (path, _spec, n, throttle) => ({ argv: ["qsub", "-t", `1-${n}`, ...(throttle === null ? [] : ["-tc", String(throttle)]), path] }),
  arrayTaskIds: (id, n) => Array.from({ length: n }, (_, i) => `${id}.${i + 1}`),
  arrayTaskIdExpr: "${JOB_ID}.${SGE_TASK_ID}",
  // "scheduling info:" (with schedd_job_info true) and "error reason" lines of each job
  reasons: (ids) => [...new Set(ids.map((id) => id.split(".")[0]!))].map((id) => ({ argv: ["qstat", "-j", id] })),
  parseReasons(outputs, ids) {
    const byJob = new Map<string, string>();
    for (const out of outputs) {
      const job = /^job_number:\s*(\d+)/m.exec(out)?.[1];
      if (job) byJob.set(job, sgeReason(out));
    }
    return new Map(ids.flatMap((id) => (byJob.get(id.split(".")[0]!) ? [[id, byJob.get(id.split(".")[0]!)!] as [string, string]] : [])));
  },
};

/** Grid Engine's task ranges: "1-7:2" -> 1, 3, 5, 7; "3,5" -> 3, 5. */
export function sgeTasks(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part);
    if (!m) continue;
    const [a, b, step] = [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? 1)];
    for (let i = a; i <= b; i += step) out.push(i);
  }
  return out;
}

/** What `qstat -j` says about why a job waits: its error reason, else its scheduling info, one line. */
export function sgeReason(qstatJ: string): string {
  const lines = qstatJ.split("\n");
  const err = lines.find((l) => /^error reason/.test(l));
  if (err) return err.replace(/^error reason\s*\d*:\s*/, "").trim();
  const i = lines.findIndex((l) => /^scheduling info:/.test(l));
  if (i < 0) return "";
  const info = [lines[i]!.replace(/^scheduling info:\s*/, ""), ...lines.slice(i + 1).filter((l) => /^\s+\S/.test(l)).map((l) => l.trim())].filter(Boolean);
  return info.join("; ");
}

/** Workers as Grid Engine jobs; the scheduler runs in this process. */
export class SGECluster extends JobQueueCluster {
  static create(options: JobQueueOptions = {}): Promise<SGECluster> {
    return JobQueueCluster.startCluster(SGECluster, sge, options);
  }
}
