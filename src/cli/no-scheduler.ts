/** `dask-mpi-ts --no-scheduler`: every rank is a worker joining an existing scheduler. */
import { logSettings } from "../deploy/settings.js";
import { startupConfig } from "../config/startup.js";
import { configureLogger } from "../log.js";
import { ConfigError } from "../errors.js";
import { Mpi } from "../mpi/addon.js";
import { MpiJob } from "../mpi/job.js";
import { exitAfter, nodeWorkerSettings, runWorker } from "../mpi/roles.js";
import { waitForSchedulerFile } from "../comm/scheduler-file.js";
import type { DaskMpiArgs } from "./dask-mpi.js";

export async function runNoScheduler(args: DaskMpiArgs): Promise<never> {
  const config = await startupConfig();
  const mpi = Mpi.load();
  mpi.init();
  const job = new MpiJob(mpi, undefined);
  configureLogger({ rank: job.rank, role: "worker", ...logSettings(config, args.cluster) });
  job.installExitHook();
  const settings = nodeWorkerSettings(config, args.cluster, job);
  const { address, secret } = await findScheduler(args, settings.worker.deathTimeoutMs);
  return exitAfter({ job, role: "worker", address, secret, done: runWorker(job, args.cluster, settings, address, secret) });
}

async function findScheduler(args: DaskMpiArgs, timeoutMs: number): Promise<{ address: string; secret: string }> {
  if (args.schedulerAddress) {
    const secret = process.env.DASK_MPI_TS_SECRET;
    if (!secret) throw new ConfigError("--scheduler-address needs the cluster secret in DASK_MPI_TS_SECRET (or use --scheduler-file)");
    return { address: args.schedulerAddress, secret };
  }
  return waitForSchedulerFile(args.cluster.schedulerFile!, timeoutMs);
}
