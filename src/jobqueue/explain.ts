/**
 * The job queue's side of "why pending?" (scheduler/pending.ts merges it with the scheduler's):
 * the cluster's pools and jobs, each pending job with the queue's own reason (SLURM's %r,
 * Grid Engine's `qstat -j` scheduling info, OAR's message, HTCondor's hold reason) and, where
 * the reason is a known one, what to do about it; the cluster's notes (a cap holding jobs
 * back, arrays refused, jobs not replaced).
 */
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import type { QueueReport } from "../protocol/messages-pending.js";
import type { JobBackend } from "./backend.js";
import type { Pool, SubmitLimits } from "./pools.js";
import type { JobSystem } from "./system.js";

/** What to do about SLURM's pending reasons (squeue's %r), the common ones. */
export const SLURM_HINTS: Record<string, string> = {
  Resources: "the nodes it may use are busy: it starts when resources free; ask for fewer cores or less memory, or another queue, to start sooner",
  Priority: "jobs of higher priority wait before it: it starts after them",
  QOSMaxJobsPerUserLimit: "your QOS allows no more running jobs: set maxJobs to that limit, or wait for your other jobs",
  QOSMaxSubmitJobPerUserLimit: "your QOS allows no more submitted jobs: set maxJobs to that limit",
  AssocMaxJobsLimit: "your association allows no more running jobs: set maxJobs to that limit",
  AssocGrpCpuLimit: "your group's CPU limit is reached: wait, or ask for fewer cores",
  PartitionTimeLimit: "the walltime is above the partition's limit: lower walltime, or use another queue",
  PartitionNodeLimit: "the job asks for more nodes than the partition allows",
  JobArrayTaskLimit: "the array's throttle (jobArrayThrottle) holds it: it starts when a task of its array ends",
  ReqNodeNotAvail: "a node it needs is down, drained or reserved",
  Dependency: "it waits for another job (a dependency)",
  BeginTime: "it may not start before its begin time",
  JobHeldUser: "it is held: release it with scontrol release",
  JobHeldAdmin: "an administrator holds it",
  None: "the scheduler has not looked at it yet: wait a scheduling cycle",
};

/** A hint for a queue's reason, where one is known. */
export function hintFor(system: string, reason: string): string | undefined {
  if (system === "slurm") return SLURM_HINTS[reason.split(/[,(]/)[0]!.trim()];
  if (system === "sge") {
    if (/max_aj_instances/.test(reason)) return "the array's throttle (jobArrayThrottle) holds it: it starts when a task of its array ends";
    if (/cannot run in queue instance|because it is full|no free slots|slots/i.test(reason)) return "no free slot in its queue: it starts when one frees";
    if (/error/i.test(reason)) return "the job is in error state (Eqw): see the reason, fix it, then qmod -cj the job or cancel it";
    if (/turned off/i.test(reason)) return "Grid Engine keeps no scheduling info: set schedd_job_info true (qconf -msconf)";
  }
  return undefined;
}

/** The report: pools, jobs (pending ones with their reasons), notes. Never rejects: a queue that cannot be asked is a note. */
export async function queueReport(c: { system: JobSystem; backend: JobBackend; pools: Pool[]; jobs: Array<{ id: string; state: string; workers: string[]; pool: string }>; limits: SubmitLimits }): Promise<QueueReport> {
  const notes: string[] = [];
  const pending = c.jobs.filter((j) => j.state === "pending").map((j) => j.id);
  let reasons = new Map<string, string>();
  try {
    reasons = (await c.backend.reasons?.(pending)) ?? reasons;
  } catch (err) {
    logger("jobqueue").warn({ err: describeError(err) }, "could not ask the queue why jobs wait");
    notes.push(`the queue could not be asked why jobs wait: ${describeError(err)}`);
  }
  if (c.limits.holding) notes.push(`submissions are held back by the cluster's caps (${[c.limits.maxJobs === undefined ? "" : `maxJobs ${c.limits.maxJobs}`, c.limits.maxQueuedJobs === undefined ? "" : `maxQueuedJobs ${c.limits.maxQueuedJobs}`].filter(Boolean).join(", ")}): the rest follow as jobs leave the queue`);
  for (const p of c.pools) {
    if (p.arraysRefused) notes.push(`pool ${p.name}: the queue refused its array jobs; it submits single jobs`);
    if (p.shortfall) notes.push(`pool ${p.name}: ${p.shortfall} job(s) ended before any worker joined and were not replaced: see their output${p.spec.logDirectory ? ` in ${p.spec.logDirectory}` : ""}`);
  }
  return {
    system: c.system.name,
    pools: c.pools.map((p) => ({ name: p.name, resources: p.spec.resources ?? {}, queue: p.spec.queue, workers: c.jobs.filter((j) => j.pool === p.name).flatMap((j) => j.workers) })),
    jobs: c.jobs.map((j) => {
      const reason = reasons.get(j.id);
      const hint = reason === undefined ? undefined : hintFor(c.system.name, reason);
      return { id: j.id, pool: j.pool, state: j.state, workers: j.workers, ...(reason ? { reason } : {}), ...(hint ? { hint } : {}) };
    }),
    notes,
  };
}
