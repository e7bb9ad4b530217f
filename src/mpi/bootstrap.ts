/**
 * What each rank does once MPI is up: rank 0 the scheduler, the client rank (if any) the
 * user's program, every other rank a worker (under a nanny unless told not to fork). This
 * file keeps the MPI side (launcher check, prefork before MPI_Init, world size, bootstrap,
 * end protocol); deploy starts the roles. Shared by the `dask-mpi-ts` command and initialize().
 */
import type { ChildProcess } from "node:child_process";
import { type ConnectTarget, runClientScript } from "../deploy/client-script.js";
import { detectLauncher } from "../deploy/launcher-env.js";
import type { RoleHandle } from "../deploy/role.js";
import { preforkWorker, startScheduler, startWorker } from "../deploy/roles.js";
import { type ClusterOptions, type StartupConfig, type WorkerSettings, logSettings, schedulerSettings, startupConfig, workerSettings } from "../deploy/settings.js";
import { WorldTooSmallError, describeError } from "../errors.js";
import { configureLogger, logger } from "../log.js";
import type { Scheduler } from "../scheduler/server.js";
import type { WorkerOptions } from "../worker/options.js";
import { Mpi } from "./addon.js";
import { MpiJob } from "./job.js";
import { stayIdle } from "./leave.js";

export type { ClusterOptions } from "../deploy/settings.js";

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
  const child = forks ? await preforkWorker() : undefined;
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

  let scheduler: RoleHandle<Scheduler> | undefined;
  const record = await job.bootstrap(async () => {
    scheduler = await startScheduler({
      port: opts.schedulerPort,
      interface: opts.interface,
      tls: opts.tls,
      dashboardAddress: opts.dashboardAddress === false ? undefined : (opts.dashboardAddress ?? ":8787"),
      schedulerFile: opts.schedulerFile,
      ...schedulerSettings(config),
    });
    return { address: scheduler.address, secret: scheduler.role.secret };
  });
  log().debug({ uptimeMs: Math.round(performance.now()) }, "bootstrap done");
  if (record.error) throw new Error(`the scheduler on rank 0 could not start: ${record.error}`);
  const started: Started = { job, role, address: record.address, secret: record.secret };

  if (scheduler) {
    const s = scheduler;
    job.onCleanup(() => s.kill());
    const clientEnded = job.clientRank === undefined ? new Promise<number>(() => {}) : job.clientEnded();
    started.done = Promise.race([s.ended.then(() => 0), clientEnded]).then(async (status) => {
      await s.stop(status === 0 ? "job finished" : `client rank exited with status ${status}`);
      return status;
    });
  } else if (role === "worker") {
    const target = { address: record.address, secret: record.secret };
    started.done = runWorker(job, opts, nodeWorkerSettings(config, opts, job), target, child);
  }
  if (role !== "worker") child?.kill();
  return started;
}

/** This rank's worker settings: the options over the configuration, for this node. */
export function nodeWorkerSettings(config: StartupConfig, opts: ClusterOptions, job: MpiJob): WorkerSettings {
  // every rank on the node counts: a slight underestimate of each worker's share where the scheduler or client rank shares it
  return workerSettings(config, opts, { workersOnNode: job.mpi.localSize });
}

/**
 * Run this rank's worker until the job's end: the client rank's program ending stops it; a
 * worker that cannot go on leaves the cluster and its rank stays idle (leave.ts).
 */
export async function runWorker(job: MpiJob, opts: ClusterOptions, settings: WorkerSettings, target: ConnectTarget, child?: ChildProcess): Promise<number> {
  const name = opts.name ? `${opts.name}-${job.rank}` : String(job.rank);
  const scheduler = "schedulerFile" in target ? { schedulerFile: target.schedulerFile } : { schedulerAddress: target.address, secret: target.secret };
  const worker: WorkerOptions = { ...scheduler, name, interface: opts.interface, tls: opts.tls, ...settings.worker };
  const handle = await startWorker({
    worker,
    nanny: (opts.nanny ?? true) && { ...settings.nanny, log: { rank: job.rank } },
    prefork: child,
    // MPI opened descriptors of its own since the first fork: keep restarted children clear
    beforeFork: () => job.mpi.markInheritedFdsCloexec(),
  });
  job.onCleanup(() => handle.kill());
  const clientEnded = job.clientRank === undefined ? new Promise<number>(() => {}) : job.clientEnded();
  const first = await Promise.race([handle.ended.then((r) => ({ kind: "ended" as const, r })), clientEnded.then((s) => ({ kind: "client" as const, s }))]);
  if (first.kind === "client") {
    await handle.stop(`client rank exited with status ${first.s}`);
    return first.s;
  }
  if (!first.r.ok) {
    // one failing worker must not end the job: leave the cluster, stay in the job (leave.ts)
    log().error({ worker: name, reason: first.r.reason }, "worker failed; its rank leaves the cluster and stays idle until the job ends");
    return stayIdle(job, { ...target, tls: opts.tls }, { name, reason: first.r.reason });
  }
  return 0;
}

/**
 * Leave the process once the role is over: with a client rank, after its program ended (its
 * status becomes ours), so the exit hook's final barrier pairs with rank 1's.
 */
export async function exitAfter(started: Pick<Started, "job" | "done">): Promise<never> {
  const own = await started.done!;
  process.exit(own !== 0 ? own : await started.job.clientEnded());
}

/** Report a start-up failure on this rank and leave with a non-zero status. */
export function failRank(err: unknown): never {
  process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
  process.exit(1);
}

/**
 * `mpirun dask-mpi-ts [SCRIPT]`: this rank's role until the job ends; with SCRIPT, rank 1 runs
 * it as the client.
 */
export async function runMpiJob(opts: ClusterOptions, script: { path: string; args: string[] } | undefined): Promise<void> {
  const started = await startRank(opts, { clientRank: script !== undefined, what: script ? "dask-mpi-ts SCRIPT" : "dask-mpi-ts" });
  if (started.role !== "client") return exitAfter(started);
  await runClientScript({ connect: { address: started.address, secret: started.secret }, tls: opts.tls, script: script!.path, args: script!.args });
}
