/**
 * What a job-queue system is to a cluster: its directives, its commands and how to read their
 * output. One JobSystem per queue system (slurm.ts, pbs.ts, sge.ts, lsf.ts); all pure data
 * and parsers, so that scripts and outputs are unit-tested as text.
 */
import type { JobSpec, SystemName } from "./options.js";

/** A job as the queue reports it; a job the queue no longer lists is gone. */
export const JobState = { pending: "pending", running: "running", ending: "ending" } as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** A command to run: argv, and what to feed its stdin. */
export interface Command {
  argv: string[];
  stdin?: string;
}

export interface JobSystem {
  name: SystemName;
  /** "SLURMCluster", for messages. */
  className: string;
  /** Directive prefix: "#SBATCH", "#PBS", "#$", "#BSUB". */
  directive: string;
  /** Variable holding the job id inside a job. */
  jobIdVar: string;
  /** Generated directive lines, before skipping and extra directives. */
  header(spec: JobSpec): string[];
  submit(scriptPath: string, script: string, spec: JobSpec): Command;
  cancel(ids: string[]): Command;
  /** Lists the user's jobs. */
  status(user: string): Command;
  /** Finds the job id in submit's output (named group `id`, else the first group; the last match wins). */
  jobIdPattern: RegExp;
  /** Job id -> state, from status's stdout. */
  parseStatus(stdout: string): Map<string, JobState>;
  /** Fills in what only the submitting machine can tell (reads its files); the cluster calls it, the renderer does not. */
  localDefaults?(spec: JobSpec): JobSpec;
  /** A status command that failed only because there are no jobs to list (LSF says so on stderr). */
  noJobs?(stderr: string): boolean;
  /** Job arrays (jobarray.ts): the submit command of `n` tasks, at most `throttle` running at once (null: no limit). */
  submitArray?(scriptPath: string, spec: JobSpec, n: number, throttle: number | null): Command;
  /** The ids the status listing gives the `n` tasks of the array job submit printed `id` for. */
  arrayTaskIds?(id: string, n: number): string[];
  /** Shell text a task expands to its own id as the status listing gives it (its workers are named after it). */
  arrayTaskIdExpr?: string;
  /** Why pending jobs wait, as the queue says (explain.ts): the command for these jobs, and its output read as id -> reason. */
  reasons?(ids: string[], user: string): Command[];
  parseReasons?(outputs: string[], ids: string[]): Map<string, string>;
}

/**
 * The job id in a submit command's output, tolerating banners (site messages) around it: the
 * last match of the pattern. Undefined when there is none.
 */
export function parseJobId(output: string, pattern: RegExp): string | undefined {
  const re = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g");
  let id: string | undefined;
  for (const m of output.matchAll(re)) id = m.groups?.id ?? m[1];
  return id;
}

/** The state of job `id` in a status listing, matching "1234" to "1234.server" (PBS) both ways. */
export function lookupJob(listing: Map<string, JobState>, id: string): JobState | undefined {
  const direct = listing.get(id);
  if (direct) return direct;
  // Grid Engine's array tasks are "45.1": a numeric suffix is a task, not a server name
  if (/\.\d+$/.test(id)) return undefined;
  const head = id.split(".")[0]!;
  for (const [k, v] of listing) if (!/\.\d+$/.test(k) && k.split(".")[0] === head) return v;
  return undefined;
}

/** Rows of whitespace-separated fields whose first field starts with a digit (skips headers and rules). */
export function tableRows(stdout: string): string[][] {
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d/.test(f[0] ?? ""));
}
