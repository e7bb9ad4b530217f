/**
 * Several pools in one cluster, and the site's caps on submissions. A pool is a kind of job
 * (its own queue, cores, memory, directives, worker resources such as GPU=1), with its own
 * script and its own kept scale target; the default pool is the one create() describes.
 * Pure, but for the scripts written at addPool (cluster.ts).
 *
 * adapt() sizes each pool by the demand for what it offers: a queued task counts for the pool
 * whose workers offer every resource it needs with the fewest others (tasks needing GPU count
 * for the GPU pool only; tasks needing nothing for a pool offering nothing, the first added
 * on ties); a processing task and a worker count for the pool of the worker's job.
 */
import type { TaskRecord, WorkerRecord, Workload } from "../scheduler/state-types.js";
import type { JobQueueOptions, JobSpec } from "./options.js";

/** What addPool takes: the job options of the pool (the cluster's options fill in the rest). */
export type PoolOptions = Omit<JobQueueOptions, "schedulerOptions" | "sharedTempDirectory" | "jobStatusInterval" | "maxJobs" | "maxQueuedJobs">;

export interface Pool {
  name: string;
  spec: JobSpec;
  script: string;
  scriptPath: string;
  /** the script of its array jobs' tasks (spec.jobArray) */
  arrayScriptPath: string | undefined;
  /** the jobs scale() asked for, kept until adapt() or close(); undefined: not kept */
  scaleTarget: number | undefined;
  /** jobs of the scale target that ended before any worker joined: not replaced */
  shortfall: number;
  /** the queue refused an array job and took a single one: single jobs from then on */
  arraysRefused: boolean;
}

/**
 * The pool a task needing `need` counts for: of the pools whose workers offer at least that
 * much of each resource, the one offering the fewest resources besides; undefined when none does.
 * @example poolFor({ GPU: 1 }, [{ name: "default", resources: null }, { name: "gpu", resources: { GPU: 1 } }]) // "gpu"
 */
export function poolFor(need: Record<string, number> | undefined, pools: ReadonlyArray<{ name: string; resources: Record<string, number> | null }>): string | undefined {
  let best: { name: string; extra: number } | undefined;
  for (const p of pools) {
    const offers = p.resources ?? {};
    if (need && !Object.entries(need).every(([r, n]) => (offers[r] ?? 0) >= n)) continue;
    const extra = Object.keys(offers).filter((r) => !need || !(r in need)).length;
    if (!best || extra < best.extra) best = { name: p.name, extra };
  }
  return best?.name;
}

const emptyWorkload = (): Workload => ({ queuedTasks: 0, queuedSeconds: 0, processingTasks: 0, processingSeconds: 0, workers: 0, nthreads: 0, nbytes: 0, memoryLimit: 0, unlimited: 0, idleWorkers: [] });

/** What the pools' workloads are computed from (the scheduler's state, read only). */
export interface StateRead {
  readonly tasks: ReadonlyMap<string, TaskRecord>;
  readonly workers: ReadonlyMap<string, WorkerRecord>;
  readonly durations: ReadonlyMap<string, number>;
}

/**
 * Each pool's share of the pending work (scheduler/state.ts workload(), split): queued tasks by
 * poolFor, processing tasks and workers by `poolOfWorker` (a worker name's pool; workers of no
 * pool are left out).
 */
export function poolWorkloads(state: StateRead, pools: ReadonlyArray<{ name: string; resources: Record<string, number> | null }>, poolOfWorker: (name: string) => string | undefined, unknownDurationS: number): Map<string, Workload> {
  const out = new Map(pools.map((p) => [p.name, emptyWorkload()]));
  const expected = (t: TaskRecord) => state.durations.get(t.prefix) ?? unknownDurationS;
  for (const t of state.tasks.values()) {
    if (t.state !== "queued") continue;
    const w = out.get(poolFor(t.placement?.resources, pools) ?? "");
    if (!w) continue;
    w.queuedTasks++;
    w.queuedSeconds += expected(t);
  }
  const idle = new Map<string, WorkerRecord[]>();
  for (const ws of state.workers.values()) {
    const name = poolOfWorker(ws.name);
    const w = name === undefined ? undefined : out.get(name);
    if (!w) continue;
    w.workers++;
    w.nthreads += ws.nthreads;
    w.nbytes += ws.nbytes;
    if (ws.memoryLimit > 0) w.memoryLimit += ws.memoryLimit;
    else w.unlimited++;
    w.processingTasks += ws.processing.size;
    for (const t of ws.processing) w.processingSeconds += expected(t);
    if (ws.processing.size === 0 && !ws.closing) idle.set(name!, [...(idle.get(name!) ?? []), ws]);
  }
  for (const [name, ws] of idle) out.get(name)!.idleWorkers = ws.sort((a, b) => a.nbytes - b.nbytes).map((x) => ({ name: x.name, nbytes: x.nbytes, memoryLimit: x.memoryLimit }));
  return out;
}

/**
 * A site's caps on submissions: `maxJobs` jobs in the queue (pending or running; each array
 * task counts), `maxQueuedJobs` of them pending. allow() says how many more may go now; a cap
 * that holds some back is reported once (`capped` set) until a call it does not hold back.
 */
export class SubmitLimits {
  readonly maxJobs: number | undefined;
  readonly maxQueuedJobs: number | undefined;
  #holding = false;

  constructor(maxJobs?: number, maxQueuedJobs?: number) {
    this.maxJobs = maxJobs;
    this.maxQueuedJobs = maxQueuedJobs;
  }

  /** Of `want` new jobs, how many may be submitted with `live` jobs in the queue, `pending` of them pending; `capped`: the cap that holds some back, the first time it does. */
  allow(want: number, live: number, pending: number): { n: number; capped?: string; holding: boolean } {
    let n = want;
    let which = "";
    if (this.maxJobs !== undefined && live + n > this.maxJobs) (n = Math.max(0, this.maxJobs - live)), (which = `maxJobs ${this.maxJobs} (${live} in the queue)`);
    if (this.maxQueuedJobs !== undefined && pending + n > this.maxQueuedJobs) (n = Math.max(0, this.maxQueuedJobs - pending)), (which = `maxQueuedJobs ${this.maxQueuedJobs} (${pending} pending)`);
    if (n === want) {
      this.#holding = false;
      return { n, holding: false };
    }
    const first = !this.#holding;
    this.#holding = true;
    return first ? { n, capped: which, holding: true } : { n, holding: true };
  }

  /** Whether the last allow() held jobs back. */
  get holding(): boolean {
    return this.#holding;
  }
}
