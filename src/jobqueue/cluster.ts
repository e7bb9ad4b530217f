/**
 * The job-queue cluster: a scheduler in this process, and workers in batch jobs that find it
 * through the scheduler file. It submits, tracks (from the queue's own listing), scales,
 * adapts and cancels jobs; the decisions are adapt.ts's, the texts job-script.ts's and the
 * queue system's specifics a JobSystem's.
 *
 * Invariants:
 * - operations that change the set of jobs (scale, an adapt step, a status poll) run one at
 *   a time, in order (#serial), so a decision never works from a half-applied one;
 * - a job counts towards the planned workers from its submission until it is closing or
 *   expiring (its workers retire within the lead time: renewal.ts), pending in the queue or not;
 *   it counts as workers only once they have joined the scheduler;
 * - after scale(n), the cluster keeps n jobs: expiring jobs and jobs that ended after their
 *   workers joined (e.g. at their walltime) are replaced; a job that ended before any worker
 *   joined is not (a broken job would be resubmitted forever), which is logged;
 * - a job is forgotten only when the queue no longer lists it;
 * - every job submitted is cancelled by close(), or at process exit (synchronously).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startScheduler } from "../deploy/roles.js";
import { type StartupConfig, schedulerSettings, startupConfig } from "../deploy/settings.js";
import { parseDuration } from "../units.js";
import { ConfigError, JobQueueError, describeError } from "../errors.js";
import { logger } from "../log.js";
import type { QueueReport } from "../protocol/messages-pending.js";
import type { Scheduler } from "../scheduler/server.js";
import type { WorkerRecord } from "../scheduler/state.js";
import type { Status } from "../status.js";
import { ADAPT_DEFAULTS, type AdaptMemory, type AdaptOptions, type JobView, MINIMUM_IDLE, UNKNOWN_TASK_DURATION_S, adaptStep, adaptiveTarget, jobOfWorker, planScale } from "./adapt.js";
import { CommandJobs, type JobBackend } from "./backend.js";
import { cancelAtExit } from "./exit-hooks.js";
import { queueReport } from "./explain.js";
import { renderJobScript } from "./job-script.js";
import { Renewal } from "./renewal.js";
import { type AnyJobQueueOptions, type JobSpec, resolveJobSpec } from "./options.js";
import { type Pool, type PoolOptions, SubmitLimits, poolWorkloads } from "./pools.js";
import type { JobState, JobSystem } from "./system.js";

export { CommandJobs, type JobBackend } from "./backend.js";

/** The worker entry point the jobs run, by absolute path (jobs do not depend on PATH). */
export const WORKER_ENTRY = fileURLToPath(new URL("../../../bin/dask-worker-ts.js", import.meta.url));

const log = () => logger("jobqueue");
/** How often the queue is asked about the jobs, unless jobStatusInterval says otherwise. */
const STATUS_INTERVAL_MS = 5000;
/** close() waits this long for cancelled jobs to leave the queue. */
const CLOSE_WAIT_MS = 30_000;

/** A job as `cluster.jobs()` reports it. */
export interface JobInfo {
  id: string;
  /** pending/running/ending as the queue last said; closing once the cluster is ending it */
  state: JobState | "closing";
  /** names of its workers connected to the scheduler */
  workers: string[];
  /** its pool ("default": the one create() describes) */
  pool: string;
}

interface JobRecord {
  id: string;
  state: JobState | "closing";
  seq: number;
  pool: string;
}

/** An adapt() in force. */
interface AdaptRun {
  timer: NodeJS.Timeout;
  opts: { minimum: number; maximum: number; waitCount: number; targetDurationS: number; intervalMs: number; minimumIdleMs: number | undefined; pools: Record<string, { minimum?: number; maximum?: number }> };
  /** per pool */
  memory: Map<string, AdaptMemory>;
  /** a step is queued or running: the timer skips */
  busy: boolean;
}

/** What startCluster hands the constructor. */
export interface ClusterInit {
  system: JobSystem;
  spec: JobSpec;
  scheduler: Scheduler;
  schedulerFile: string;
  scriptDir: string;
  statusIntervalMs: number;
  backend: JobBackend;
  /** a pool's resolved options: its own over the cluster's */
  poolSpec: (name: string, options: PoolOptions) => JobSpec;
  limits: SubmitLimits;
}

/** The name of the pool create() describes. */
export const DEFAULT_POOL = "default";

/**
 * The base of SLURMCluster, PBSCluster, SGECluster and LSFCluster; create one with their
 * `create()`. `Client.connect(cluster)` connects to its scheduler.
 */
export class JobQueueCluster {
  readonly system: JobSystem;
  /** The resolved options every job runs with. */
  readonly spec: JobSpec;
  /** The scheduler, running in this process. */
  readonly scheduler: Scheduler;
  /** Where the jobs read the scheduler's address and secret (mode 0600; removed by close()). */
  readonly schedulerFile: string;
  status: Status = "running";
  #scriptDir: string;
  #pools = new Map<string, Pool>();
  #poolSpec: ClusterInit["poolSpec"];
  #limits: SubmitLimits;
  #jobs = new Map<string, JobRecord>();
  #seq = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #pollTimer: NodeJS.Timeout;
  #adapt: AdaptRun | undefined;
  #closed: Promise<void> | undefined;
  #backend: JobBackend;
  #statusIntervalMs: number;
  /** queue waits and expiring jobs (renewal.ts) */
  #renewal: Renewal;

  /** Use the subclasses' `create()`. */
  constructor(init: ClusterInit) {
    this.system = init.system;
    this.spec = init.spec;
    this.scheduler = init.scheduler;
    this.schedulerFile = init.schedulerFile;
    this.#scriptDir = init.scriptDir;
    this.#backend = init.backend;
    this.#statusIntervalMs = init.statusIntervalMs;
    this.#renewal = new Renewal();
    this.#poolSpec = init.poolSpec;
    this.#limits = init.limits;
    this.#addPool(DEFAULT_POOL, init.spec);
    // the scheduler's "why pending?" asks the queue through the cluster (explain.ts)
    this.scheduler.queue = { report: () => this.#queueReport() };
    this.#pollTimer = setInterval(() => {
      // workers are looked at before the poll too: a job that ended since was seen running
      if (this.#jobs.size || [...this.#pools.values()].some((p) => p.scaleTarget)) void this.#serial(() => (this.#observe(), this.#poll().then(() => this.#renew())));
    }, init.statusIntervalMs).unref();
    cancelAtExit.add(this);
  }

  /** Resolve options (explicit > `jobqueue.<system>.*` > defaults), start the scheduler, and build the cluster. */
  protected static async startCluster<T extends JobQueueCluster>(
    ctor: new (init: ClusterInit) => T,
    system: JobSystem,
    options: AnyJobQueueOptions,
    backend: (spec: JobSpec) => JobBackend | Promise<JobBackend> = (spec) => new CommandJobs(system, spec),
  ): Promise<T> {
    const config = await startupConfig();
    const section = config.values.jobqueue[system.name];
    const spec = jobSpec(system, options, config);
    const so = { ...section["scheduler-options"], ...options.schedulerOptions };
    const dir = options.sharedTempDirectory ?? section["shared-temp-directory"] ?? process.cwd();
    const schedulerFile = path.resolve(options.schedulerOptions?.schedulerFile ?? path.join(dir, `.dask-jobqueue-ts-${spec.name}-${randomBytes(4).toString("hex")}.json`));
    if (spec.logDirectory !== null) mkdirSync(spec.logDirectory, { recursive: true });
    const statusIntervalMs = interval(options.jobStatusInterval, "jobStatusInterval") ?? STATUS_INTERVAL_MS;
    const host = so.host ?? undefined;
    const { role: scheduler } = await startScheduler({
      // the workers' interface, unless the scheduler is told where to listen
      interface: so.interface ?? (host ? undefined : (spec.interface ?? undefined)),
      host,
      port: so.port ?? 0,
      schedulerFile,
      ...schedulerSettings(config),
      ...(options.schedulerOptions?.dashboardAddress === undefined ? {} : { dashboardAddress: options.schedulerOptions.dashboardAddress }),
    });
    const { maxJobs, maxQueuedJobs } = options;
    for (const [k, v] of Object.entries({ maxJobs, maxQueuedJobs })) if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new ConfigError(`${k} must be a positive integer, got ${JSON.stringify(v)}`);
    const poolSpec = (name: string, o: PoolOptions) => jobSpec(system, { ...options, name: `${spec.name}-${name}`, ...o }, config);
    try {
      const jobs = await backend(spec);
      const limits = new SubmitLimits(maxJobs, maxQueuedJobs);
      return new ctor({ system, spec, scheduler, schedulerFile, scriptDir: mkdtempSync(path.join(tmpdir(), "dask-jobqueue-ts-")), statusIntervalMs, backend: jobs, poolSpec, limits });
    } catch (err) {
      await scheduler.close("cluster could not start");
      throw err;
    }
  }

  /** The scheduler's address (with `secret`, what Client.connect(cluster) uses). */
  get schedulerAddress(): string {
    return this.scheduler.address;
  }

  get secret(): string {
    return this.scheduler.secret;
  }

  /** The exact script every job of a pool (default: the default pool) runs. */
  jobScript(pool = DEFAULT_POOL): string {
    return this.#pool(pool).script;
  }

  /**
   * Add a pool of jobs of another kind (its own queue, cores, memory, job directives, worker
   * `resources` such as { GPU: 1 }); options not given are the cluster's. Its workers are
   * named `<name>-<pool>-<job id>` (option `name`). Scale it with scale({ pool, n }); adapt()
   * sizes it by the tasks needing what it offers (pools.ts). Returns its job script.
   */
  addPool(name: string, options: PoolOptions = {}): string {
    if (!/^[A-Za-z0-9_][\w.-]*$/.test(name)) throw new ConfigError(`a pool name must be letters, digits, _, . or -, got ${JSON.stringify(name)}`);
    if (this.#pools.has(name)) throw new ConfigError(`the cluster already has a pool ${JSON.stringify(name)}`);
    const spec = this.#poolSpec(name, options);
    const clash = [...this.#pools.values()].find((p) => p.spec.name === spec.name);
    if (clash) throw new ConfigError(`pool ${JSON.stringify(name)}'s workers would be named like pool ${JSON.stringify(clash.name)}'s (${JSON.stringify(spec.name)}): give it another name`);
    return this.#addPool(name, spec).script;
  }

  /** The pools' names, the default first. */
  pools(): string[] {
    return [...this.#pools.keys()];
  }

  #addPool(name: string, spec: JobSpec): Pool {
    if (spec.jobArray && !this.system.submitArray) throw new ConfigError(`${this.system.className} has no job arrays here: jobArray must be false`);
    const target = { schedulerFile: this.schedulerFile };
    const script = renderJobScript(this.system, spec, target);
    const base = name === DEFAULT_POOL ? "job" : `job-${name}`;
    const scriptPath = path.join(this.#scriptDir, `${base}.sh`);
    // executable: OAR runs the script itself
    writeFileSync(scriptPath, script, { mode: 0o700 });
    let arrayScriptPath: string | undefined;
    if (spec.jobArray) {
      arrayScriptPath = path.join(this.#scriptDir, `${base}-array.sh`);
      writeFileSync(arrayScriptPath, renderJobScript(this.system, spec, { ...target, array: true }), { mode: 0o700 });
    }
    const pool: Pool = { name, spec, script, scriptPath, arrayScriptPath, scaleTarget: undefined, shortfall: 0, arraysRefused: false };
    this.#pools.set(name, pool);
    return pool;
  }

  #pool(name: string): Pool {
    const p = this.#pools.get(name);
    if (!p) throw new ConfigError(`the cluster has no pool ${JSON.stringify(name)} (it has ${[...this.#pools.keys()].join(", ")})`);
    return p;
  }

  /**
   * Why the pending work (or task `key`) does not run: the scheduler's reasons merged with the
   * queue's for the jobs that would bring its workers (SLURM's pending reason, Grid Engine's
   * `qstat -j` messages), as client.whyPending answers.
   */
  explain(key?: string): ReturnType<Scheduler["whyPending"]> {
    return this.scheduler.whyPending(key);
  }

  #queueReport(): Promise<QueueReport> {
    const pools = [...this.#pools.values()];
    return queueReport({ system: this.system, backend: this.#backend, pools, jobs: this.jobs(), limits: this.#limits });
  }

  /**
   * The queue waits seen lately, in ms, oldest first: from a job's submission to all its workers
   * joining. Jobs are replaced twice this long (at least 10 s) ahead of their workers'
   * retirement, and adapt() keeps idle workers as long by default.
   */
  queueWaits(): number[] {
    return [...this.#renewal.waits];
  }

  /** The cluster's jobs, as last seen in the queue, with their connected workers. */
  jobs(): JobInfo[] {
    const workers = this.#workersByJob();
    return [...this.#jobs.values()].map((j) => {
      const joined = workers.get(j.id) ?? [];
      // a job whose workers joined runs, whatever the last poll said
      return { id: j.id, state: j.state === "pending" && joined.length ? "running" : j.state, workers: joined, pool: j.pool };
    });
  }

  /**
   * Scale to `n` workers (jobs of `processes` workers each, rounded up) or to `{ jobs }`.
   * Scaling down closes jobs without joined workers first, then idle ones, retiring their
   * workers gracefully (results move to the workers that stay) before cancelling the job.
   * The cluster then keeps that many: it replaces jobs ahead of their workers' retirement (their
   * walltime), and jobs that ended after their workers joined. Stops adapt(). Rejects with
   * JobQueueError when the queue refuses a job.
   */
  scale(target: number | { jobs: number; pool?: string } | { n: number; pool?: string }): Promise<void> {
    const pool = this.#pool(typeof target === "number" ? DEFAULT_POOL : (target.pool ?? DEFAULT_POOL));
    const workers = (n: number, what: string) => Math.ceil(count(n, what) / pool.spec.processes);
    const jobs = typeof target === "number" ? workers(target, "scale(n)") : "jobs" in target ? count(target.jobs, "scale({ jobs })") : workers(target.n, "scale({ n })");
    this.#stopAdapt();
    pool.scaleTarget = jobs;
    pool.shortfall = 0;
    return this.#serial(() => this.#scaleJobs(pool, jobs));
  }

  /**
   * Let the pending work size the cluster between `minimum` and `maximum` workers, deciding
   * every `interval` (Dask's Adaptive: up at once, down after `waitCount` decisions in a row).
   * Each pool is sized by the demand for what it offers, within `minimum`/`maximum` or its
   * own in `pools: { gpu: { maximum: 2 } }`. Replaces an earlier adapt(); scale() stops it.
   */
  adapt(options: AdaptOptions & { pools?: Record<string, { minimum?: number; maximum?: number }> } = {}): void {
    this.#stopAdapt();
    const minimum = count(options.minimum ?? ADAPT_DEFAULTS.minimum, "minimum");
    const maximum = options.maximum ?? ADAPT_DEFAULTS.maximum;
    if (!(maximum >= minimum)) throw new ConfigError(`adapt maximum must be at least minimum (${minimum}), got ${maximum}`);
    const waitCount = count(options.waitCount ?? ADAPT_DEFAULTS.waitCount, "waitCount");
    const intervalMs = interval(options.interval, "interval") ?? ADAPT_DEFAULTS.intervalMs;
    const targetDurationS = (interval(options.targetDuration, "targetDuration", 1000) ?? ADAPT_DEFAULTS.targetDurationS * 1000) / 1000;
    if (!(intervalMs > 0) || !(targetDurationS > 0)) throw new ConfigError(`adapt interval and targetDuration must be more than 0, got ${options.interval} and ${options.targetDuration}`);
    const minimumIdleMs = interval(options.minimumIdle, "minimumIdle");
    if (minimumIdleMs !== undefined && !(minimumIdleMs >= 0)) throw new ConfigError(`adapt minimumIdle must be at least 0, got ${JSON.stringify(options.minimumIdle)}`);
    const pools = options.pools ?? {};
    for (const [name, b] of Object.entries(pools)) {
      this.#pool(name);
      if (b.minimum !== undefined) count(b.minimum, `pools.${name}.minimum`);
      if (!((b.maximum ?? maximum) >= (b.minimum ?? minimum))) throw new ConfigError(`adapt pools.${name}.maximum must be at least its minimum, got ${b.maximum}`);
    }
    for (const p of this.#pools.values()) p.scaleTarget = undefined;
    const a: AdaptRun = {
      opts: { minimum, maximum, waitCount, targetDurationS, intervalMs, minimumIdleMs, pools },
      memory: new Map(),
      busy: false,
      timer: setInterval(() => {
        if (a.busy) return;
        a.busy = true;
        void this.#serial(() => this.#adaptOnce(a)).finally(() => (a.busy = false));
      }, intervalMs).unref(),
    };
    this.#adapt = a;
  }

  /**
   * Close the scheduler (its workers are told to close), cancel every job and wait (bounded)
   * until the queue no longer lists them; remove the scheduler file. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.status = "closing";
    this.scheduler.queue = undefined;
    this.#stopAdapt();
    clearInterval(this.#pollTimer);
    try {
      await this.#chain.catch(() => {});
      await this.scheduler.close("job-queue cluster closed");
      const ids = [...this.#jobs.keys()];
      if (ids.length) await this.#cancel(ids);
      const deadline = Date.now() + CLOSE_WAIT_MS;
      while (this.#jobs.size && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        await this.#poll();
      }
      if (this.#jobs.size) log().warn({ jobs: [...this.#jobs.keys()], reason: `still listed ${CLOSE_WAIT_MS} ms after cancelling them` }, "jobs did not leave the queue");
      await this.#backend.close?.();
    } finally {
      rmSync(this.#scriptDir, { recursive: true, force: true });
      cancelAtExit.delete(this);
      this.status = "closed";
    }
  }

  /** Cancel every job now, synchronously (process exit). */
  cancelAllSync(): void {
    const ids = [...this.#jobs.keys()];
    if (ids.length) this.#backend.cancelSync(ids);
    this.scheduler.removeSchedulerFile();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  #stopAdapt(): void {
    if (this.#adapt) clearInterval(this.#adapt.timer);
    this.#adapt = undefined;
  }

  /** Connected workers' names by job id. */
  #workersByJob(): Map<string, string[]> {
    return new Map([...this.#workerRecordsByJob()].map(([id, ws]) => [id, ws.map((w) => w.name)]));
  }

  /** Connected workers by job id. */
  #workerRecordsByJob(): Map<string, WorkerRecord[]> {
    const out = new Map<string, WorkerRecord[]>();
    // "1234" names PBS's "1234.server"; "45.1" (a Grid Engine array task) only itself
    const byHead = new Map<string, JobRecord>();
    for (const j of this.#jobs.values()) if (!/\.\d+$/.test(j.id)) byHead.set(`${j.pool}\0${j.id.split(".")[0]}`, j);
    for (const ws of this.scheduler.state.workers.values()) {
      for (const pool of this.#pools.values()) {
        const id = jobOfWorker(ws.name, pool.spec.name, pool.spec.processes);
        if (id === undefined) continue;
        const exact = this.#jobs.get(id);
        const job = exact?.pool === pool.name ? exact : /\.\d+$/.test(id) ? undefined : byHead.get(`${pool.name}\0${id.split(".")[0]}`);
        if (job) {
          out.set(job.id, [...(out.get(job.id) ?? []), ws]);
          break;
        }
      }
    }
    return out;
  }

  /** Between two looks at the jobs: the status interval, and while adapting its interval too (a replacement waits for its step). */
  #checkEveryMs(): number {
    return this.#statusIntervalMs + (this.#adapt?.opts.intervalMs ?? 0);
  }

  /** Look at the jobs' workers: learn queue waits, mark the jobs retiring within the lead time (renewal.ts). */
  #observe(): void {
    for (const id of this.#renewal.observe(this.#workerRecordsByJob(), Date.now(), this.#checkEveryMs())) {
      log().info({ job: id, leadMs: Math.round(this.#renewal.leadMs(this.#checkEveryMs())), reason: "its workers retire within the lead time" }, "job expiring");
    }
  }

  /** After a status poll: mark expiring jobs; under scale(), replace them and the jobs that ended. */
  async #renew(): Promise<void> {
    if (this.status !== "running") return;
    this.#observe();
    if (this.#adapt) return;
    for (const pool of this.#pools.values()) {
      if (pool.scaleTarget === undefined) continue;
      try {
        await this.#scaleJobs(pool, Math.max(0, pool.scaleTarget - pool.shortfall));
      } catch (err) {
        log().warn({ pool: pool.name, err: describeError(err) }, "could not replace jobs");
      }
    }
  }

  async #scaleJobs(pool: Pool, target: number): Promise<void> {
    if (this.status !== "running") return;
    const workers = this.#workersByJob();
    const live = [...this.#jobs.values()].filter((j) => j.state !== "closing" && j.pool === pool.name);
    // expiring jobs leave on their own: they are not counted, and are closed only with the last
    const views: JobView[] = live
      .filter((j) => !this.#renewal.expiring(j.id))
      .map((j) => ({ id: j.id, state: j.state as JobState, workers: workers.get(j.id) ?? [], seq: j.seq }));
    const plan = planScale(views, target, this.scheduler.state.workload(UNKNOWN_TASK_DURATION_S).idleWorkers.map((w) => w.name));
    if (target === 0) plan.close.push(...live.filter((j) => this.#renewal.expiring(j.id)).map((j) => j.id));
    if (plan.submit) await this.#submit(pool, plan.submit);
    if (plan.close.length) await this.#closeJobs(plan.close, workers);
  }

  /** Submit `want` jobs of the pool, as far as the site's caps allow: as one array job when the pool says so. */
  async #submit(pool: Pool, want: number): Promise<void> {
    const live = [...this.#jobs.values()].filter((j) => j.state !== "closing" && !this.#renewal.expiring(j.id));
    const { n, capped } = this.#limits.allow(want, live.length, live.filter((j) => j.state === "pending").length);
    if (capped) log().warn({ pool: pool.name, wanted: want, submitting: n, reason: `the cap ${capped} is reached; the rest follow as jobs leave` }, "job submissions capped");
    let left = n;
    if (pool.spec.jobArray && !pool.arraysRefused && n > 1 && this.#backend.submitArray) {
      try {
        this.#record(pool, await this.#backend.submitArray(pool.arrayScriptPath!, pool.spec, n));
        return;
      } catch (err) {
        if (!(err instanceof JobQueueError)) throw err;
        // refused: if the queue takes a single job, it is the array it refuses
        try {
          this.#record(pool, [await this.#backend.submit(pool.scriptPath, pool.script, pool.spec)]);
        } catch {
          throw err;
        }
        pool.arraysRefused = true;
        log().warn({ pool: pool.name, err: describeError(err), reason: "the queue refused the array job and took a single one" }, "job arrays off: single jobs from now on");
        left--;
      }
    }
    for (let i = 0; i < left; i++) this.#record(pool, [await this.#backend.submit(pool.scriptPath, pool.script, pool.spec)]);
  }

  #record(pool: Pool, ids: string[]): void {
    const now = Date.now();
    for (const id of ids) {
      this.#jobs.set(id, { id, state: "pending", seq: ++this.#seq, pool: pool.name });
      this.#renewal.submitted(id, now, pool.spec.processes);
    }
    log().info({ jobs: ids, pool: pool.name, system: this.system.name }, ids.length > 1 ? "array job submitted" : "job submitted");
  }

  /**
   * Retire the jobs' workers (results only they hold move to the workers that stay), then
   * cancel the jobs. When no worker stays, there is nowhere to move results to: the jobs are
   * cancelled at once, and what only their workers held is lost (as after any worker loss).
   */
  async #closeJobs(ids: string[], workers: Map<string, string[]>): Promise<void> {
    for (const id of ids) this.#jobs.get(id)!.state = "closing";
    const names = ids.flatMap((id) => workers.get(id) ?? []);
    const staying = this.scheduler.state.workers.size - names.length;
    if (names.length && staying > 0) await this.scheduler.retireWorkers(names);
    await this.#cancel(ids);
  }

  async #cancel(ids: string[]): Promise<void> {
    try {
      await this.#backend.cancel(ids);
      log().info({ jobs: ids, reason: this.status === "running" ? "scaled down" : "cluster closed" }, "jobs cancelled");
    } catch (err) {
      // most often jobs that ended meanwhile (workers told to close do): only a job the queue
      // still lists is a failure
      await this.#poll();
      const left = ids.filter((id) => this.#jobs.has(id));
      if (left.length) log().warn({ jobs: left, err: describeError(err) }, "job cancellation failed");
    }
  }

  /** Ask the queue about the jobs: update their states, forget those it no longer lists. */
  async #poll(): Promise<void> {
    let listing: Map<string, JobState>;
    try {
      listing = await this.#backend.states([...this.#jobs.keys()]);
    } catch (err) {
      log().warn({ err: describeError(err) }, "job status failed");
      return;
    }
    for (const job of [...this.#jobs.values()]) {
      const state = listing.get(job.id);
      if (state === undefined) {
        this.#jobs.delete(job.id);
        const ran = this.#renewal.left(job.id);
        log().info({ job: job.id, reason: job.state === "closing" ? "cancelled" : "ended" }, "job left the queue");
        if (job.state !== "closing" && ran === false && this.status === "running") {
          const pool = this.#pools.get(job.pool);
          if (pool?.scaleTarget !== undefined) pool.shortfall++;
          log().warn({ job: job.id, reason: "it ended before any of its workers joined (see its output)" }, "job not replaced");
        }
      } else if (job.state !== "closing") {
        job.state = state;
      }
    }
  }

  async #adaptOnce(a: AdaptRun): Promise<void> {
    if (this.#adapt !== a || this.status !== "running") return;
    this.#observe();
    const pools = [...this.#pools.values()];
    const poolOf = new Map<string, string>();
    const byJob = this.#workersByJob();
    for (const j of this.#jobs.values()) for (const w of byJob.get(j.id) ?? []) poolOf.set(w, j.pool);
    const loads = poolWorkloads(this.scheduler.state, pools.map((p) => ({ name: p.name, resources: p.spec.resources })), (w) => poolOf.get(w), UNKNOWN_TASK_DURATION_S);
    // by default, idle capacity is kept as long as getting it back would take (the queue wait)
    const minimumIdleMs = a.opts.minimumIdleMs ?? Math.min(MINIMUM_IDLE.maxMs, Math.max(MINIMUM_IDLE.minMs, this.#renewal.leadMs(0)));
    for (const pool of pools) {
      const workload = loads.get(pool.name)!;
      const target = adaptiveTarget(workload, { targetDurationS: a.opts.targetDurationS, threadsPerWorker: pool.spec.threadsPerWorker });
      const planned = [...this.#jobs.values()].filter((j) => j.pool === pool.name && j.state !== "closing" && !this.#renewal.expiring(j.id)).length * pool.spec.processes;
      const bounds = { ...a.opts, ...a.opts.pools[pool.name], minimumIdleMs };
      const step = adaptStep(target, planned, bounds, a.memory.get(pool.name) ?? { downCount: 0 }, Date.now());
      a.memory.set(pool.name, step.memory);
      if (step.scaleTo === null) continue;
      log().info({ pool: pool.name, workers: step.scaleTo, planned, queued: workload.queuedTasks, processing: workload.processingTasks }, "adapt scaling");
      try {
        await this.#scaleJobs(pool, Math.ceil(step.scaleTo / pool.spec.processes));
      } catch (err) {
        log().warn({ pool: pool.name, err: describeError(err) }, "adapt could not scale");
      }
    }
  }
}

function count(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${what} must be a non-negative integer, got ${JSON.stringify(n)}`);
  return n;
}

/** The resolved options of `system`'s jobs: explicit > `jobqueue.<system>.*` > defaults. */
function jobSpec(system: JobSystem, options: AnyJobQueueOptions, config: StartupConfig): JobSpec {
  const spec = resolveJobSpec(system.name, options, { config: config.values, node: process.execPath, workerEntry: WORKER_ENTRY, className: system.className });
  return system.localDefaults?.(spec) ?? spec;
}

/** The job script a cluster of `system` would submit, for users who submit by hand (`dask-jobqueue-ts job-script`). */
export async function jobScriptFor(system: JobSystem, options: AnyJobQueueOptions, schedulerFile: string): Promise<string> {
  return renderJobScript(system, jobSpec(system, options, await startupConfig()), { schedulerFile });
}

/** A number of milliseconds (times `unit` when the option counts seconds), or a duration text. */
function interval(v: number | string | undefined, what: string, unit = 1): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === "string" ? parseDuration(v, what) : v * unit;
}
