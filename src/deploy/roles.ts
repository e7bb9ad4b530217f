/**
 * The one place that starts a role: a scheduler, or a worker with or without its nanny. Every
 * launcher (dask-mpi-ts under mpirun or srun, initialize(), dask-scheduler-ts, dask-worker-ts,
 * the job-queue clusters) holds what it started as a RoleHandle: its address, how it ended,
 * and how to stop it.
 *
 * Role modules load only where a role starts (start-up time is CPU time shared by every rank
 * on the node): a worker rank never loads the scheduler, rank 0 never the nanny.
 */
import type { ChildProcess } from "node:child_process";
import { newSecret } from "../comm/handshake.js";
import type { Nanny } from "../nanny/nanny.js";
import type { NannyOptions } from "../nanny/options.js";
import type { Scheduler } from "../scheduler/server.js";
import type { SchedulerOptions } from "../scheduler/options.js";
import type { Worker } from "../worker/worker.js";
import type { WorkerOptions } from "../worker/options.js";
import { launcherEnvKeys } from "./launcher-env.js";
import type { RoleEnd, RoleHandle } from "./role.js";

/** A scheduler's options; without a secret it makes a fresh one. */
export type SchedulerStart = Omit<SchedulerOptions, "secret"> & { secret?: string };

export async function startScheduler(o: SchedulerStart): Promise<RoleHandle<Scheduler>> {
  const [{ Scheduler }, { withDashboard }, { withBuiltins }] = await Promise.all([import("../scheduler/server.js"), import("./dashboard.js"), import("./extensions.js")]);
  // the dashboard is an extension the scheduler does not import; a bad address fails here,
  // before anything listens or a scheduler file is written
  const s = await Scheduler.start(withBuiltins(withDashboard({ ...o, secret: o.secret || newSecret() })));
  let reason = "scheduler closed";
  const ended = s.closed.then((): RoleEnd => ({ ok: true, reason, status: 0 }));
  return {
    kind: "scheduler",
    role: s,
    address: s.address,
    ended,
    stop: (why) => {
      if (s.status !== "closing" && s.status !== "closed") reason = why;
      return s.close(why).then(() => ended);
    },
    // what an exit hook can still do: no stale file for the next run to trip over
    kill: () => s.removeSchedulerFile(),
  };
}

/** A nanny's own settings (its worker's options are given apart). */
export type NannySettings = Omit<NannyOptions, "worker" | "child" | "beforeFork" | "childEnv">;

export interface WorkerStart {
  worker: WorkerOptions;
  /** Supervise the worker in a child process with these settings, or run it in this process. */
  nanny: false | NannySettings;
  /** A child from preforkWorker() for the nanny's first worker. */
  prefork?: ChildProcess;
  /** Called before each fork of the nanny (e.g. to mark MPI's descriptors close-on-exec). */
  beforeFork?: () => void;
  /** The children's environment (default: this one without the MPI launcher's variables). */
  childEnv?: NodeJS.ProcessEnv;
}

/** Start a worker: the one place that decides "nanny or not". */
export async function startWorker(o: WorkerStart): Promise<RoleHandle<Worker | Nanny>> {
  if (o.nanny === false) {
    const { Worker } = await import("../worker/worker.js");
    return workerHandle(await Worker.start(o.worker));
  }
  const { Nanny } = await import("../nanny/nanny.js");
  const nanny = await Nanny.start({ ...o.nanny, worker: o.worker, child: o.prefork, beforeFork: o.beforeFork, childEnv: o.childEnv ?? workerChildEnv() });
  const ended = nanny.closed.then((r): RoleEnd => ({ ...r, status: r.ok ? 0 : 1 }));
  return {
    kind: "nanny",
    role: nanny,
    // the current worker's: a restarted worker listens elsewhere
    get address() {
      return nanny.workerAddress;
    },
    ended,
    stop: (why) => nanny.close(why).then(() => ended),
    kill: () => nanny.killNow(),
  };
}

function workerHandle(w: Worker): RoleHandle<Worker> {
  const ended = w.closed.then((reason): RoleEnd => ({ ok: w.cleanExit, reason, status: w.cleanExit ? 0 : 1 }));
  return {
    kind: "worker",
    role: w,
    address: w.address,
    ended,
    stop: (why) => w.close(why).then(() => ended),
    // the worker lives in this process: exiting ends it; its scheduler hears at once
    kill: () => w.abort("its process is exiting"),
  };
}

/**
 * The environment of a worker's child process: this one without the MPI launcher's variables
 * (a child that saw them would try to join the MPI job and hang it).
 */
export function workerChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of launcherEnvKeys(env)) delete out[k];
  return out;
}

/**
 * Fork a worker child now, before its options are known, so that its start-up overlaps the
 * launcher's own (MPI_Init); hand it to startWorker() as `prefork`.
 */
export async function preforkWorker(): Promise<ChildProcess> {
  const { Nanny } = await import("../nanny/nanny.js");
  return Nanny.prefork(workerChildEnv());
}

/**
 * Without a nanny: start the first task thread of this process's worker now, so that its
 * start-up overlaps the launcher's (MPI_Init); the worker started later takes it.
 */
export async function prestartWorkerThread(): Promise<void> {
  const { prestartThread } = await import("../worker/executor.js");
  prestartThread();
}
