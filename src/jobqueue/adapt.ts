/**
 * Scaling decisions, pure: how many workers the pending work calls for (Dask's
 * adaptive_target, its memory rule included), when to act on it (Dask's Adaptive: up at once,
 * down only after `waitCount` intervals in a row recommend it and, against thrashing, only once
 * they have for `minimumIdle`), and which jobs to submit or close to reach a number of jobs.
 * The cluster (cluster.ts) feeds them numbers and carries out the plan.
 */
import type { Workload } from "../scheduler/state.js";
import type { JobState } from "./system.js";

export interface AdaptOptions {
  /** Fewest workers to keep; default 0. */
  minimum?: number;
  /** Most workers to run; default Infinity. */
  maximum?: number;
  /** Milliseconds (or a duration like "1s") between decisions; default 1 s. */
  interval?: number | string;
  /** The work (in expected seconds) one thread should have queued; default 5 s. Accepts "5s" too. */
  targetDuration?: number | string;
  /** Intervals in a row that must recommend scaling down before it happens; default 3. */
  waitCount?: number;
  /**
   * How long scaling down must have been recommended without a break before it happens
   * (milliseconds, or a duration like "30s"), so that a pause between computations does not
   * release workers (or cancel queued jobs) wanted again a moment later. Default: twice the
   * cluster's longest recent queue wait (what getting a worker back costs), at least 10 s, at
   * most 5 minutes.
   */
  minimumIdle?: number | string;
}

/** Dask's defaults (distributed.adaptive.*), and its duration for a task prefix never measured. */
export const ADAPT_DEFAULTS = { minimum: 0, maximum: Infinity, intervalMs: 1000, targetDurationS: 5, waitCount: 3 } as const;
export const UNKNOWN_TASK_DURATION_S = 0.5;

/**
 * Workers the pending work calls for: its expected seconds over `targetDurationS`, no more
 * than there are tasks, in workers of `threadsPerWorker` threads; at least one while tasks
 * wait and there is no worker. Fewer workers than there are only by closing idle ones, and
 * only as many as leave room for what is stored (Dask's workers_to_close).
 */
export function adaptiveTarget(w: Workload, o: { targetDurationS: number; threadsPerWorker: number }): number {
  const tasks = w.queuedTasks + w.processingTasks;
  const threads = Math.min(Math.ceil((w.queuedSeconds + w.processingSeconds) / o.targetDurationS), tasks);
  const perWorker = w.workers > 0 ? w.nthreads / w.workers : o.threadsPerWorker;
  let target = Math.ceil(threads / perWorker);
  if (w.queuedTasks > 0 && w.workers === 0) target = Math.max(1, target);
  // Dask's memory rule: results filling more than 60 % of the workers' memory call for twice
  // the workers (not with a worker without a limit: it has room for anything)
  if (w.unlimited === 0 && w.memoryLimit > 0 && w.nbytes > MEMORY_SCALE_UP * w.memoryLimit) target = Math.max(target, 2 * w.workers);
  return Math.max(target, w.workers - closableWorkers(w));
}

/** The share of the workers' memory limits that stored results may fill before adapt doubles the workers (Dask's 0.6). */
export const MEMORY_SCALE_UP = 0.6;

/** minimumIdle's default, from the observed queue wait: within these bounds. */
export const MINIMUM_IDLE = { minMs: 10_000, maxMs: 300_000 } as const;

/** Room the workers that stay must have for the stored results, as a multiple of their bytes (Dask's memory_ratio). */
const MEMORY_RATIO = 2;

/**
 * How many of the idle workers (fewest bytes first) can go while the memory limits of the
 * workers that stay add up to MEMORY_RATIO times the bytes stored: with results held, the
 * last worker never goes (they would be lost, and recomputed at once).
 */
export function closableWorkers(w: Workload): number {
  if (w.nbytes === 0) return w.idleWorkers.length;
  let { unlimited, memoryLimit } = w;
  let closable = 0;
  for (const i of w.idleWorkers) {
    const u = unlimited - (i.memoryLimit === 0 ? 1 : 0);
    const m = memoryLimit - i.memoryLimit;
    if (!(u > 0 || m >= MEMORY_RATIO * w.nbytes)) break;
    unlimited = u;
    memoryLimit = m;
    closable++;
  }
  return closable;
}

/** Scale-down recommendations in a row so far, and since when (ms) they come without a break. */
export interface AdaptMemory {
  downCount: number;
  downSince?: number;
}

/**
 * One adapt interval at time `now` (ms): the number of workers to scale to now, or null to
 * leave things be. `planned` counts the workers of every job submitted and not closing (nor
 * expiring: renewal.ts), pending ones too, so that jobs waiting in the queue are not submitted
 * again. Down only after `waitCount` recommendations in a row spanning `minimumIdleMs`.
 */
export function adaptStep(
  target: number,
  planned: number,
  o: { minimum: number; maximum: number; waitCount: number; minimumIdleMs?: number },
  memory: AdaptMemory,
  now = 0,
): { scaleTo: number | null; memory: AdaptMemory } {
  const want = Math.max(o.minimum, Math.min(o.maximum, target));
  if (want > planned) return { scaleTo: want, memory: { downCount: 0 } };
  if (want === planned) return { scaleTo: null, memory: { downCount: 0 } };
  const downCount = memory.downCount + 1;
  const downSince = memory.downSince ?? now;
  const held = now - downSince >= (o.minimumIdleMs ?? 0);
  return downCount >= o.waitCount && held ? { scaleTo: want, memory: { downCount: 0 } } : { scaleTo: null, memory: { downCount, downSince } };
}

/** A job as the planner sees it. */
export interface JobView {
  id: string;
  state: JobState;
  /** names of its workers connected to the scheduler */
  workers: string[];
  /** submission order (higher is newer) */
  seq: number;
}

/** What to do to reach a number of jobs: submit more, or close some (cancel, after retiring their workers). */
export interface ScalePlan {
  submit: number;
  close: string[];
}

/**
 * Jobs to submit or close to have `target` of them. Closed first: jobs none of whose workers
 * has joined yet (pending in the queue, or starting), newest first; then jobs whose workers
 * are all idle, in `idleWorkers` order (fewest bytes held first); then the newest.
 */
export function planScale(jobs: JobView[], target: number, idleWorkers: string[]): ScalePlan {
  if (jobs.length <= target) return { submit: target - jobs.length, close: [] };
  const idleRank = new Map(idleWorkers.map((w, i) => [w, i]));
  const rank = (j: JobView): [number, number] => {
    if (j.workers.length === 0) return [0, -j.seq];
    if (j.workers.every((w) => idleRank.has(w))) return [1, Math.max(...j.workers.map((w) => idleRank.get(w)!))];
    return [2, -j.seq];
  };
  const order = [...jobs].sort((a, b) => {
    const [ra, sa] = rank(a);
    const [rb, sb] = rank(b);
    return ra - rb || sa - sb;
  });
  return { submit: 0, close: order.slice(0, jobs.length - target).map((j) => j.id) };
}

/**
 * The job a worker belongs to, from its name: NAME-JOBID, or NAME-JOBID-i when a job runs
 * several worker processes (dask-worker-ts --nworkers). Undefined for a worker of no job.
 */
export function jobOfWorker(workerName: string, name: string, processes: number): string | undefined {
  if (!workerName.startsWith(`${name}-`)) return undefined;
  const rest = workerName.slice(name.length + 1);
  if (processes === 1) return rest || undefined;
  const m = /^(.+)-\d+$/.exec(rest);
  return m ? m[1] : undefined;
}
