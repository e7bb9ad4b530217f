/**
 * What each rank does once MPI is up (layout.ts): the scheduler's rank (0 unless told
 * otherwise) the scheduler, the client rank (if any) the user's program, every other rank a
 * worker (under a nanny unless told not to fork); without exclusive workers, every rank also
 * runs a worker. This file keeps the MPI side (launcher check, prefork before MPI_Init, world
 * size, bootstrap, end protocol); deploy starts the roles. Shared by the `dask-mpi-ts` command,
 * initialize() and execute().
 */
import type { ChildProcess } from "node:child_process";
import { protocolTls } from "../comm/tls.js";
import { type ConnectTarget, runClientScript } from "../deploy/client-script.js";
import { detectLauncher } from "../deploy/launcher-env.js";
import type { RoleHandle } from "../deploy/role.js";
import { preforkWorker, prestartWorkerThread, startScheduler, startWorker } from "../deploy/roles.js";
import { type ClusterOptions, type StartupConfig, type WorkerSettings, clusterConfig, logSettings, schedulerSettings, workerSettings } from "../deploy/settings.js";
import { describeError } from "../errors.js";
import { configureLogger, logger } from "../log.js";
import type { Scheduler } from "../scheduler/server.js";
import type { WorkerOptions } from "../worker/options.js";
import { Mpi } from "./addon.js";
import { MpiJob } from "./job.js";
import { type RankLayout, type RankRoles, checkWorldSize, roleName, rolesOf } from "./layout.js";
import { stayIdle } from "./leave.js";

export type { ClusterOptions } from "../deploy/settings.js";

export interface Started {
  job: MpiJob;
  /** What this rank runs (one rank may run several: layout.ts). */
  roles: RankRoles;
  address: string;
  secret: string;
  /** The options with the worker options applied (see clusterConfig). */
  opts: ClusterOptions;
  /** Resolves with this rank's exit status once its scheduler and worker are over (none: at once, 0). */
  done: Promise<number>;
}

export interface RankMode {
  layout: RankLayout;
  /** Names the mode in errors: "dask-mpi-ts SCRIPT", "initialize()", "execute()". */
  what: string;
  /** Names the worker options in errors: "--worker-options" or "workerOptions". */
  workerOptionsSource?: string;
}

const log = () => logger("mpi");

/**
 * Load the configuration, init MPI, check the world size, bootstrap, and start this rank's
 * roles. A bad configuration fails every rank alike, before MPI_Init.
 */
export async function startRank(given: ClusterOptions, mode: RankMode): Promise<Started> {
  const { layout } = mode;
  const { config, opts } = await clusterConfig(given, mode.workerOptionsSource);
  protocolTls(opts.protocol, opts.tls);
  // a rank that will run a worker starts its nanny's child first (without a nanny, its first
  // task thread), so that its start-up overlaps MPI_Init (the launcher's environment tells
  // the rank before MPI does)
  const expected = detectLauncher().rank;
  const mpi = Mpi.load();
  const worker = expected !== undefined && rolesOf(expected, layout).worker;
  const forks = (opts.nanny ?? true) && worker;
  if (forks) mpi.markInheritedFdsCloexec();
  const child = forks ? await preforkWorker() : undefined;
  if (worker && !forks) await prestartWorkerThread();
  mpi.init();
  const job = new MpiJob(mpi, layout.clientRank, layout.schedulerRank);
  const roles = rolesOf(job.rank, layout);
  configureLogger({ rank: job.rank, role: roleName(roles), ...logSettings(config, opts) });
  const tooSmall = checkWorldSize(layout, job.size, mode.what);
  if (tooSmall) {
    // every rank sees the same size, so every rank says so and leaves the same way
    child?.kill();
    job.leaveTogether(tooSmall.message);
  }
  job.installExitHook();
  log().debug({ uptimeMs: Math.round(performance.now()), size: job.size }, "mpi initialized");

  let scheduler: RoleHandle<Scheduler> | undefined;
  const record = await job.bootstrap(async () => {
    const settings = schedulerSettings(config, opts);
    scheduler = await startScheduler({
      port: opts.schedulerPort,
      interface: opts.interface,
      tls: opts.tls,
      dashboardAddress: opts.dashboardAddress === false ? undefined : (opts.dashboardAddress ?? ":8787"),
      schedulerFile: opts.schedulerFile,
      ...settings,
      // on the client's rank (--scheduler-rank 1), the script's end ends the process, as on any client rank
      comm: { ...settings.comm, holdsProcess: job.rank !== job.clientRank },
    });
    return { address: scheduler.address, secret: scheduler.role.secret };
  });
  log().debug({ uptimeMs: Math.round(performance.now()) }, "bootstrap done");
  if (record.error) {
    child?.kill();
    job.leaveTogether(`the scheduler on rank ${layout.schedulerRank} could not start: ${record.error}`);
  }

  const done: Array<Promise<number>> = [];
  if (scheduler) {
    const s = scheduler;
    job.onCleanup(() => s.kill());
    done.push(
      Promise.race([s.ended.then(() => 0), job.untilClientEnds()]).then(async (status) => {
        await s.stop(status === 0 ? "job finished" : `client rank exited with status ${status}`);
        return status;
      }),
    );
  }
  if (roles.worker) {
    const target = { address: record.address, secret: record.secret };
    done.push(runWorker(job, opts, nodeWorkerSettings(config, opts, job), target, child));
  } else {
    child?.kill();
  }
  const all = Promise.all(done).then((statuses) => statuses.find((s) => s !== 0) ?? 0);
  return { job, roles, address: record.address, secret: record.secret, opts, done: all };
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
  // on the client's rank (--inclusive-workers), the script's end ends the process, as on any
  // client rank: neither the nanny's child nor (without a nanny) the worker holds it
  const holdsProcess = job.rank !== job.clientRank;
  const worker: WorkerOptions = { ...scheduler, name, interface: opts.interface, tls: opts.tls, ...settings.worker, comm: { ...settings.worker.comm, holdsProcess } };
  const starting = startWorker({
    worker,
    nanny: (opts.nanny ?? true) && { ...settings.nanny, log: { rank: job.rank }, holdsProcess },
    prefork: child,
    // MPI opened descriptors of its own since the first fork: keep restarted children clear
    beforeFork: () => job.mpi.markInheritedFdsCloexec(),
  });
  const clientEnded = job.untilClientEnds();
  // the client's program may end before this worker is up (a short script, a slow rank): the
  // job is over then, and this rank goes to the final barrier with the others, rather than
  // retrying a scheduler that has stopped until the barrier's deadline aborts the job. A
  // worker still starting ends with this process (a nanny's child when its nanny goes).
  const up = await Promise.race([starting.then((h) => ({ kind: "up" as const, h })), clientEnded.then((s) => ({ kind: "client" as const, s }))]);
  if (up.kind === "client") {
    starting.then(
      (h) => void h.stop(`client rank exited with status ${up.s}`),
      () => {},
    );
    return up.s;
  }
  const handle = up.h;
  job.onCleanup(() => handle.kill());
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
  // ended cleanly (retired, its lifetime over, or the cluster closing): with the cluster still
  // up, the rank stays in the job (its leaving now would be a rank leaving the final barrier
  // early, and the launcher would end the job); a closing cluster lets it go at once
  return stayIdle(job, { ...target, tls: opts.tls });
}

/**
 * Leave the process once the roles are over: with a client rank, after its program ended (its
 * status becomes ours), so the exit hook's final barrier pairs with the client rank's.
 */
export async function exitAfter(started: Pick<Started, "job" | "done">): Promise<never> {
  const own = await started.done;
  process.exit(own !== 0 ? own : await started.job.clientEnded());
}

/** Report a start-up failure on this rank and leave with a non-zero status. */
export function failRank(err: unknown): never {
  process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
  process.exit(1);
}

/**
 * `mpirun dask-mpi-ts [SCRIPT]`: this rank's roles until the job ends; with SCRIPT, rank 1 runs
 * it as the client.
 */
export async function runMpiJob(opts: ClusterOptions, layout: RankLayout, script: { path: string; args: string[] } | undefined): Promise<void> {
  const what = script ? "dask-mpi-ts SCRIPT" : "dask-mpi-ts";
  const started = await startRank(opts, { layout, what, workerOptionsSource: "--worker-options" });
  if (!started.roles.client) return exitAfter(started);
  await runClientScript({ connect: { address: started.address, secret: started.secret }, tls: opts.tls, script: script!.path, args: script!.args });
}
