/**
 * "Why pending?" (client.whyPending, the `why-pending` op of extensions/pending.ts; computed by
 * scheduler/pending.ts, the queue's side by a job-queue cluster): the request and the answer.
 */

/** `why-pending`: about one task, or without a key the pending work as a whole. */
export type WhyPendingRequest = { op: "why-pending"; key?: string };

/** A job as the queue side reports it. */
export interface QueueJob {
  id: string;
  pool: string;
  state: string;
  /** why it waits, in the queue's words (e.g. SLURM's "Resources", "QOSMaxJobsPerUserLimit") */
  reason?: string;
  /** what to do about it, where the reason is known */
  hint?: string;
  workers: string[];
}

/** A pool of a job-queue cluster as the queue side reports it. */
export interface QueuePool {
  name: string;
  resources: Record<string, number>;
  queue: string | null;
  workers: string[];
}

export interface QueueReport {
  system: string;
  pools: QueuePool[];
  jobs: QueueJob[];
  /** the cluster's own notes: a cap holding jobs back, an array job refused, jobs not replaced */
  notes: string[];
}

/** The job queue's side, set by a job-queue cluster on its scheduler. */
export interface QueueSource {
  report(): Promise<QueueReport>;
}

export interface WhyPending {
  /** the task asked about; undefined: the pending work as a whole */
  key?: string;
  /** its state on the scheduler; "unknown" when the scheduler has no such task */
  state: string;
  /** the scheduler's reasons, each one sentence */
  scheduler: string[];
  /** the queue's side (jobs that would bring the workers it needs); undefined without a job queue */
  queue?: QueueReport;
  /** everything above as lines a user can act on */
  answer: string[];
}

