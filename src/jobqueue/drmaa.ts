/**
 * DRMAACluster: the job-queue cluster through DRMAA 1.0 instead of the queue's commands, so one
 * class reaches any resource manager with a DRMAA library (tested on Grid Engine). Jobs run the
 * same script as the other clusters (its directive lines are comments to DRMAA); resources go
 * in `nativeSpecification`, in the resource manager's own syntax. Job states come from
 * drmaa_job_ps, cancellation is drmaa_control(TERMINATE). The session lives in a DRMAA agent
 * process (drmaa/agent.ts), started with what the library needs, which also cancels the jobs
 * if this program dies.
 */
import { ConfigError, DrmaaError } from "../errors.js";
import { RemoteDrmaaSession } from "../drmaa/remote.js";
import type { JobStatus, JobTemplate } from "../drmaa/session.js";
import type { JobBackend } from "./backend.js";
import { JobQueueCluster } from "./cluster.js";
import { lsf } from "./lsf.js";
import type { JobQueueOptions, JobSpec, SystemName } from "./options.js";
import { pbs } from "./pbs.js";
import { sge } from "./sge.js";
import { slurm } from "./slurm.js";
import type { JobState, JobSystem } from "./system.js";

export interface DRMAAOptions extends JobQueueOptions {
  /** Site-specific resources, in the resource manager's syntax (Grid Engine: "-l h_vmem=4G -q all.q"). */
  nativeSpecification?: string;
  /** The DRMAA contact string; default the implementation's own. */
  contact?: string;
  /** Which resource manager is behind DRMAA (for the job id variable and defaults); default "sge". */
  system?: SystemName;
  /** Environment variables for the jobs (DRMAA's job environment; Grid Engine passes no other). */
  env?: Record<string, string>;
}

const SYSTEMS: Partial<Record<SystemName, JobSystem>> = { slurm, pbs, sge, lsf };
const STATES: Partial<Record<JobStatus, JobState>> = {
  undetermined: "pending",
  queued: "pending",
  "system-hold": "pending",
  "user-hold": "pending",
  "user-system-hold": "pending",
  running: "running",
  "system-suspended": "running",
  "user-suspended": "running",
  "user-system-suspended": "running",
  // done and failed: the job has left
};


/** Jobs through a DRMAA session. */
class DrmaaJobs implements JobBackend {
  readonly #session: RemoteDrmaaSession;
  readonly #template: Omit<JobTemplate, "args">;

  constructor(session: RemoteDrmaaSession, spec: JobSpec, nativeSpecification: string | undefined, env: Record<string, string> | undefined) {
    this.#session = session;
    this.#template = {
      remoteCommand: "/bin/sh",
      jobName: spec.jobName,
      workingDirectory: process.cwd(),
      joinFiles: true,
      // the jobs' output goes to logDirectory when there is one (as in the scripts), else nowhere
      outputPath: spec.logDirectory === null ? ":/dev/null" : `:${spec.logDirectory}/${spec.jobName}.out`,
      ...(nativeSpecification ? { nativeSpecification } : {}),
      ...(env ? { env } : {}),
    };
  }

  submit(scriptPath: string): Promise<string> {
    return this.#session.runJob({ ...this.#template, args: [scriptPath] });
  }

  async states(ids: string[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    await Promise.all(
      ids.map(async (id) => {
        try {
          const state = STATES[await this.#session.status(id)];
          if (state) out.set(id, state);
        } catch (err) {
          // a job the resource manager has forgotten has left; other failures are real
          if (!(err instanceof DrmaaError && err.codeName === "DRMAA_ERRNO_INVALID_JOB")) throw err;
        }
      }),
    );
    return out;
  }

  async cancel(ids: string[]): Promise<void> {
    await Promise.all(
      ids.map((id) =>
        this.#session.control(id, "terminate").catch((err) => {
          if (!(err instanceof DrmaaError && err.codeName === "DRMAA_ERRNO_INVALID_JOB")) throw err;
        }),
      ),
    );
  }

  /** Process exit: the agent sees this process go and terminates the jobs itself. */
  cancelSync(): void {}

  close(): Promise<void> {
    return this.#session.close();
  }
}

/** Workers as DRMAA jobs; the scheduler runs in this process. */
export class DRMAACluster extends JobQueueCluster {
  /**
   * Rejects with DrmaaUnavailableError (what to install, what to set) without a DRMAA library
   * or binding, and with DrmaaError when the resource manager cannot be reached.
   */
  static async create(options: DRMAAOptions = {}): Promise<DRMAACluster> {
    const { nativeSpecification, contact, system = "sge", env, ...rest } = options;
    const sys = SYSTEMS[system];
    if (!sys) throw new ConfigError(`DRMAACluster's system must be one of ${Object.keys(SYSTEMS).join(", ")}, got ${JSON.stringify(system)}`);
    const session = await RemoteDrmaaSession.open(contact);
    try {
      return await JobQueueCluster.startCluster(DRMAACluster, sys, rest, (spec) => new DrmaaJobs(session, spec, nativeSpecification, env));
    } catch (err) {
      await session.close().catch(() => {});
      throw err;
    }
  }
}
