/**
 * The standalone launchers behind `dask-scheduler-ts` and `dask-worker-ts` (qsub/sbatch
 * deployments without MPI: workers and clients find the scheduler through a shared scheduler
 * file, or its address and DASK_MPI_TS_SECRET). Each runs until a signal or its role's end and
 * returns the command's exit status.
 */
import { constants } from "node:os";
import type { LevelWithSilent } from "pino";
import type { LogFormat } from "../log.js";
import { configureLogger } from "../log.js";
import type { JobEnd, WorkerOptions } from "../worker/options.js";
import { type SchedulerStart, startScheduler, startWorker } from "./roles.js";
import { type JournalGiven, type WorkerGiven, logSettings, schedulerSettings, startupConfig, workerSettings } from "./settings.js";
import type { RoleHandle } from "./role.js";
import { stopOnSignals } from "./signals.js";

export interface LogGiven {
  logLevel?: LevelWithSilent;
  logFormat?: LogFormat;
}

/**
 * Run a scheduler until SIGINT/SIGTERM (or distributed.scheduler.idle-timeout), then close its
 * workers and remove its file. Options given win over the configuration. Resolves 0 once closed.
 */
export async function runScheduler(o: Omit<SchedulerStart, "journal"> & LogGiven & JournalGiven): Promise<number> {
  const { logLevel, logFormat, journal, checkpoint, ...given } = o;
  const config = await startupConfig();
  configureLogger({ role: "scheduler", ...logSettings(config, { logLevel, logFormat }) });
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const scheduler = await startScheduler({ ...schedulerSettings(config, { journal, checkpoint }), ...defined, secret: given.secret || process.env.DASK_MPI_TS_SECRET });
  stopOnSignals(scheduler);
  return (await scheduler.ended).status;
}

/**
 * Worker options a command was given; the rest comes from the configuration. `retirement`:
 * the batch job's end the workers retire before, and the margin (dask-worker-ts asks the queue
 * system), asked once logging is set up.
 */
export type WorkersStart = Omit<WorkerOptions, keyof WorkerGiven | "name"> &
  LogGiven & { given: WorkerGiven; name?: string; nworkers: number; nanny: boolean; retirement?: () => Promise<JobEnd | undefined> };

/**
 * Run `nworkers` workers (each under its nanny unless `nanny` is false) until a signal ends
 * them. With several, their names are `name-0`, `name-1`, ... Resolves 0 only if all of them
 * ended cleanly.
 */
export async function runWorkers(o: WorkersStart): Promise<number> {
  const { logLevel, logFormat, given, name, nworkers, nanny, retirement, ...worker } = o;
  const config = await startupConfig();
  configureLogger({ role: "worker", ...logSettings(config, { logLevel, logFormat }) });
  const settings = workerSettings(config, given, { workersOnNode: nworkers });
  const jobEnd = (await retirement?.()) ?? worker.jobEnd;
  if (jobEnd !== undefined) worker.jobEnd = jobEnd;
  // one signal stops them all, also those still starting: a handler per started worker would
  // leave a later one running (the signal taken, the process never ending)
  let stopped: string | undefined;
  const started: RoleHandle[] = [];
  stopOnSignals({
    stop: async (reason) => {
      stopped = reason;
      await Promise.all(started.map((h) => h.stop(reason)));
      // a start still under way (waiting for its scheduler) cannot be stopped: it ends with the
      // process (a nanny's child follows its IPC channel), with the status of the signal
      if (started.length < nworkers) process.exit(128 + (constants.signals[reason.replace("received ", "") as NodeJS.Signals] ?? 0));
    },
  });
  const handles = await Promise.all(
    Array.from({ length: nworkers }, async (_, i) => {
      const h = await startWorker({
        worker: { ...worker, ...settings.worker, name: name !== undefined && nworkers > 1 ? `${name}-${i}` : name },
        nanny: nanny && settings.nanny,
      });
      started.push(h);
      if (stopped !== undefined) void h.stop(stopped);
      return h;
    }),
  );
  const ends = await Promise.all(handles.map((h) => h.ended));
  return ends.every((e) => e.ok) ? 0 : 1;
}
