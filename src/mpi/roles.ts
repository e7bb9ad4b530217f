/**
 * What each rank does once MPI is up: rank 0 the scheduler, the client rank (if any) the
 * user's program, every other rank a worker (under a nanny unless told not to fork).
 * Shared by the `dask-mpi-ts` command and initialize().
 */
import type { TlsFiles } from "../comm/tls.js";
import type { ChildProcess } from "node:child_process";
import type { LevelWithSilent } from "pino";
import { type WorkerGiven, type WorkerSettings, logSettings, schedulerSettings, workerSettings } from "../deploy/settings.js";
import { type StartupConfig, startupConfig } from "../config/startup.js";
import { WorldTooSmallError, describeError } from "../errors.js";
import { configureLogger, logger } from "../log.js";
import { Nanny } from "../nanny/nanny.js";
import type { Scheduler } from "../scheduler/server.js";
import type { WorkerOptions } from "../worker/options.js";
import { Mpi } from "./addon.js";
import { detectLauncher } from "../deploy/launcher-env.js";
import { MpiJob } from "./job.js";
import { stayIdle } from "./leave.js";

/**
 * Options of an MPI-launched cluster. Worker settings left out come from the configuration
 * (`~/.config/dask-mpi-ts/*.yaml`, DASK_MPI_TS_CONFIG, DASK_MPI_TS_* variables), else its
 * defaults: `nthreads` 1, `memoryLimit` "auto" (the node's memory divided among its ranks).
 */
export interface ClusterOptions extends WorkerGiven {
  schedulerFile?: string;
  schedulerPort?: number;
  interface?: string;
  /** Where rank 0 serves the dashboard (default ":8787"); false = no dashboard. */
  dashboardAddress?: string | false;
  /** PEM files: the whole cluster (scheduler, workers, client rank) speaks tls://. */
  tls?: TlsFiles;
  /** Supervise each worker in a child process (default true). */
  nanny?: boolean;
  /** Worker name prefix: workers are named `<name>-<rank>`, or just the rank. */
  name?: string;
  logLevel?: LevelWithSilent;
  logFormat?: "json" | "pretty";
}

export type Role = "scheduler" | "client" | "worker";

export interface Started {
  job: MpiJob;
  role: Role;
  address: string;
  secret: string;
  /** Resolves with this rank's exit status once its role is over (scheduler and workers). */
  done?: Promise<number>;
}

const log = () => logger("mpi");

/**
 * Load the configuration, init MPI, check the world size, bootstrap, and start this rank's
 * role. A bad configuration fails every rank alike, before MPI_Init.
 */
export async function startRank(opts: ClusterOptions, mode: { clientRank: boolean; what: string }): Promise<Started> {
  const config = await startupConfig();
  // a rank that will be a worker starts its nanny's child first, so that the child's start-up
  // overlaps MPI_Init (the launcher's environment tells the rank before MPI does)
  const expected = detectLauncher().rank;
  const firstWorker = mode.clientRank ? 2 : 1;
  const mpi = Mpi.load();
  const forks = (opts.nanny ?? true) && expected !== undefined && expected >= firstWorker;
  if (forks) mpi.markInheritedFdsCloexec();
  const child = forks ? Nanny.prefork() : undefined;
  mpi.init();
  const job = new MpiJob(mpi, mode.clientRank ? 1 : undefined);
  const needed = mode.clientRank ? 3 : 2;
  const role: Role = job.rank === 0 ? "scheduler" : mode.clientRank && job.rank === 1 ? "client" : "worker";
  configureLogger({ rank: job.rank, role, ...logSettings(config, opts) });
  if (job.size < needed) {
    // every rank sees the same size, so every rank says so and leaves the same way
    process.stderr.write(`dask-mpi-ts: error: ${new WorldTooSmallError(job.size, needed, mode.what).message}\n`);
    mpi.finalize();
    process.exit(1);
  }
  job.installExitHook();
  log().debug({ uptimeMs: Math.round(performance.now()), size: job.size }, "mpi initialized");

  let scheduler: Scheduler | undefined;
  // role modules are loaded by the ranks that need them: start-up time is CPU time shared
  // by every rank on the node
  const record = await job.bootstrap(async () => {
    const [{ Scheduler }, { newSecret }, { withDashboard }] = await Promise.all([import("../scheduler/server.js"), import("../comm/handshake.js"), import("../deploy/dashboard.js")]);
    scheduler = await Scheduler.start(withDashboard({
      secret: newSecret(),
      port: opts.schedulerPort,
      interface: opts.interface,
      tls: opts.tls,
      dashboardAddress: opts.dashboardAddress === false ? undefined : (opts.dashboardAddress ?? ":8787"),
      schedulerFile: opts.schedulerFile,
      ...schedulerSettings(config),
    }));
    return { address: scheduler.address, secret: scheduler.secret };
  });
  log().debug({ uptimeMs: Math.round(performance.now()) }, "bootstrap done");
  if (record.error) throw new Error(`the scheduler on rank 0 could not start: ${record.error}`);
  const started: Started = { job, role, address: record.address, secret: record.secret };

  if (scheduler) {
    const s = scheduler;
    job.onCleanup(() => s.removeSchedulerFile());
    const clientEnded = job.clientRank === undefined ? new Promise<number>(() => {}) : job.clientEnded();
    started.done = Promise.race([s.closed.then(() => 0), clientEnded]).then(async (status) => {
      await s.close(status === 0 ? "job finished" : `client rank exited with status ${status}`);
      return status;
    });
  } else if (role === "worker") {
    started.done = runWorker(job, opts, nodeWorkerSettings(config, opts, job), record.address, record.secret, child);
  }
  if (role !== "worker") child?.kill();
  return started;
}

/** This rank's worker settings: the options over the configuration, for this node. */
export function nodeWorkerSettings(config: StartupConfig, opts: ClusterOptions, job: MpiJob): WorkerSettings {
  // every rank on the node counts: a slight underestimate of each worker's share where the scheduler or client rank shares it
  return workerSettings(config, opts, { workersOnNode: job.mpi.localSize });
}

export async function runWorker(job: MpiJob, opts: ClusterOptions, settings: WorkerSettings, address: string, secret: string, child?: ChildProcess): Promise<number> {
  const name = opts.name ? `${opts.name}-${job.rank}` : String(job.rank);
  const workerOptions: WorkerOptions = { schedulerAddress: address, secret, name, interface: opts.interface, tls: opts.tls, ...settings.worker };
  let ended: Promise<{ ok: boolean; reason: string }>;
  let stop: (reason: string) => Promise<unknown>;
  if (opts.nanny ?? true) {
    const nanny = await Nanny.start({ worker: workerOptions, ...settings.nanny, log: { rank: job.rank },
      child,
      // MPI opened descriptors of its own since the first fork: keep restarted children clear
      beforeFork: () => job.mpi.markInheritedFdsCloexec(),
    });
    job.onCleanup(() => nanny.killNow());
    ended = nanny.closed;
    stop = (r) => nanny.close(r);
  } else {
    const { Worker } = await import("../worker/worker.js");
    const worker = await Worker.start(workerOptions);
    ended = worker.closed.then((reason) => ({ ok: worker.cleanExit, reason }));
    stop = (r) => worker.close(r);
  }
  const clientEnded = job.clientRank === undefined ? new Promise<number>(() => {}) : job.clientEnded();
  const first = await Promise.race([ended.then((r) => ({ kind: "ended" as const, r })), clientEnded.then((s) => ({ kind: "client" as const, s }))]);
  if (first.kind === "client") {
    await stop(`client rank exited with status ${first.s}`);
    return first.s;
  }
  if (!first.r.ok) {
    // one failing worker must not end the job: leave the cluster, stay in the job (leave.ts)
    log().error({ worker: name, reason: first.r.reason }, "worker failed; its rank leaves the cluster and stays idle until the job ends");
    return stayIdle(job, { address, secret, tls: opts.tls }, { name, reason: first.r.reason });
  }
  return 0;
}

/**
 * Leave the process once the role is over: with a client rank, after its program ended (its
 * status becomes ours), so the exit hook's final barrier pairs with rank 1's.
 */
export async function exitAfter(started: Started): Promise<never> {
  const own = await started.done!;
  process.exit(own !== 0 ? own : await started.job.clientEnded());
}

/** Report a start-up failure on this rank and leave with a non-zero status. */
export function failRank(err: unknown): never {
  process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
  process.exit(1);
}
