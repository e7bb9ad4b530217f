/**
 * `dask-mpi-ts --no-scheduler`: every rank is a worker joining an existing scheduler. Given a
 * scheduler file, the workers read it again whenever they lose the scheduler, so they follow
 * a restarted one (as dask-worker-ts does); given an address, they rejoin only that address.
 */
import type { ConnectTarget } from "../deploy/client-script.js";
import { type ClusterOptions, clusterConfig, logSettings } from "../deploy/settings.js";
import { ConfigError } from "../errors.js";
import { configureLogger } from "../log.js";
import { Mpi } from "./addon.js";
import { exitAfter, nodeWorkerSettings, runWorker } from "./bootstrap.js";
import { MpiJob } from "./job.js";

export async function runNoScheduler(given: ClusterOptions, schedulerAddress: string | undefined): Promise<never> {
  const target = schedulerTarget(given.schedulerFile, schedulerAddress);
  const { config, opts } = await clusterConfig(given, "--worker-options");
  const mpi = Mpi.load();
  mpi.init();
  const job = new MpiJob(mpi, undefined);
  configureLogger({ rank: job.rank, role: "worker", ...logSettings(config, opts) });
  job.installExitHook();
  return exitAfter({ job, done: runWorker(job, opts, nodeWorkerSettings(config, opts, job), target) });
}

function schedulerTarget(file: string | undefined, address: string | undefined): ConnectTarget {
  if (address) {
    const secret = process.env.DASK_MPI_TS_SECRET;
    if (!secret) throw new ConfigError("--scheduler-address needs the cluster secret in DASK_MPI_TS_SECRET (or use --scheduler-file)");
    return { address, secret };
  }
  if (!file) throw new ConfigError("--no-scheduler needs --scheduler-file or --scheduler-address to find the scheduler");
  return { schedulerFile: file };
}
