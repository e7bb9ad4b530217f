/**
 * How a cluster submits, follows and cancels its jobs: JobBackend, and CommandJobs, the
 * default one, through the queue system's commands (sbatch/squeue/scancel, qsub/qstat/qdel,
 * ...). DRMAA's is drmaa.ts's.
 */
import { userInfo } from "node:os";
import { JobQueueError } from "../errors.js";
import { runCommand, runCommandSync } from "./commands.js";
import type { JobSpec } from "./options.js";
import { type Command, type JobState, type JobSystem, lookupJob, parseJobId } from "./system.js";

/** A queue's own words on why pending jobs wait (explain.ts). */
export type Reasons = Map<string, string>;

export interface JobBackend {
  /** Submit one job running `scriptPath`; resolves with its id, rejects with what the queue said. */
  submit(scriptPath: string, script: string, spec?: JobSpec): Promise<string>;
  /** Submit `n` jobs as one array job (when the queue system has arrays): resolves with the tasks' ids. */
  submitArray?(scriptPath: string, spec: JobSpec, n: number): Promise<string[]>;
  /** The states of these jobs; a job missing from the answer has left the queue. Rejects if the queue cannot be asked. */
  states(ids: string[]): Promise<Map<string, JobState>>;
  /** Why these pending jobs wait, as the queue says (jobs it says nothing about are left out). */
  reasons?(ids: string[]): Promise<Reasons>;
  cancel(ids: string[]): Promise<void>;
  /** For process exit: best effort, synchronous. */
  cancelSync(ids: string[]): void;
  close?(): Promise<void>;
}

/** Jobs through the queue system's commands. */
export class CommandJobs implements JobBackend {
  readonly #system: JobSystem;
  readonly #spec: JobSpec;
  readonly #user = userInfo().username;

  constructor(system: JobSystem, spec: JobSpec) {
    this.#system = system;
    this.#spec = spec;
  }

  async submit(scriptPath: string, script: string, spec = this.#spec): Promise<string> {
    return this.#submitted(this.#system.submit(scriptPath, script, spec), spec);
  }

  async submitArray(scriptPath: string, spec: JobSpec, n: number): Promise<string[]> {
    const s = this.#system;
    if (!s.submitArray || !s.arrayTaskIds) throw new JobQueueError(`${s.className} has no job arrays`, { command: "", exitCode: null, stderr: "", stdout: "" });
    const id = await this.#submitted(s.submitArray(scriptPath, spec, n, spec.jobArrayThrottle), spec);
    return s.arrayTaskIds(id, n);
  }

  async #submitted(cmd: Command, spec: JobSpec): Promise<string> {
    const { stdout } = await runCommand(cmd, "job submission");
    const pattern = spec.jobIdPattern ?? this.#system.jobIdPattern;
    const id = parseJobId(stdout, pattern);
    if (id === undefined) {
      throw new JobQueueError(`job submission printed no job id matching ${pattern}: ${JSON.stringify(stdout.trim())} (set jobIdPattern)`, {
        command: cmd.argv.join(" "),
        exitCode: 0,
        stderr: "",
        stdout,
      });
    }
    return id;
  }

  async states(ids: string[]): Promise<Map<string, JobState>> {
    let listing: Map<string, JobState>;
    try {
      listing = this.#system.parseStatus((await runCommand(this.#system.status(this.#user), "job status")).stdout);
    } catch (err) {
      if (!(err instanceof JobQueueError && this.#system.noJobs?.(err.stderr))) throw err;
      listing = new Map();
    }
    const out = new Map<string, JobState>();
    for (const id of ids) {
      const state = lookupJob(listing, id);
      if (state !== undefined) out.set(id, state);
    }
    return out;
  }

  async reasons(ids: string[]): Promise<Reasons> {
    const s = this.#system;
    if (!s.reasons || !s.parseReasons || ids.length === 0) return new Map();
    const outputs: string[] = [];
    // a job that ended meanwhile makes `qstat -j` fail: its output is left out, not the others'
    for (const cmd of s.reasons(ids, this.#user)) outputs.push(await runCommand(cmd, "job reasons").then((r) => r.stdout, () => ""));
    return s.parseReasons(outputs, ids);
  }

  async cancel(ids: string[]): Promise<void> {
    await runCommand(this.#system.cancel(ids), "job cancellation");
  }

  cancelSync(ids: string[]): void {
    runCommandSync(this.#system.cancel(ids));
  }
}
