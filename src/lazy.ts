/**
 * What the package entry promises (README, DESIGN section 1) but must not load on every rank:
 * `initialize`, `execute` and the job-queue clusters. Each is a small value that imports its module on
 * first use; the type of the same name is the real class. The classes themselves (for
 * `instanceof` or subclassing) are in `dask-mpi-ts/jobqueue` and `dask-mpi-ts/drmaa`.
 */
import type { Client } from "./client/client.js";
import type { ExecuteOptions } from "./mpi/execute.js";
import type { InitializeOptions } from "./mpi/initialize.js";
import type * as Drmaa from "./drmaa/index.js";
import type * as JobQueue from "./jobqueue/index.js";

const jobqueue = (): Promise<typeof JobQueue> => import("./jobqueue/index.js");

/**
 * For programs started as `mpirun -np N node app.js`: rank 1 gets a connected Client, the
 * other ranks become the scheduler and the workers (see src/mpi/initialize.ts).
 */
export async function initialize(options?: InitializeOptions): Promise<Client | null> {
  return (await import("./mpi/initialize.js")).initialize(options);
}

/**
 * dask-mpi's execute(): every rank of `mpirun -np N node app.js` calls it; `fn(client)` runs on
 * the client rank (default 1) and its return ends the job (see src/mpi/execute.ts).
 */
export async function execute<T>(fn: (client: Client) => T | Promise<T>, options?: ExecuteOptions): Promise<T> {
  return (await import("./mpi/execute.js")).execute(fn, options);
}

export const SLURMCluster: Pick<(typeof JobQueue)["SLURMCluster"], "create"> = { create: async (o) => (await jobqueue()).SLURMCluster.create(o) };
export type SLURMCluster = JobQueue.SLURMCluster;
export const PBSCluster: Pick<(typeof JobQueue)["PBSCluster"], "create"> = { create: async (o) => (await jobqueue()).PBSCluster.create(o) };
export type PBSCluster = JobQueue.PBSCluster;
export const SGECluster: Pick<(typeof JobQueue)["SGECluster"], "create"> = { create: async (o) => (await jobqueue()).SGECluster.create(o) };
export type SGECluster = JobQueue.SGECluster;
export const LSFCluster: Pick<(typeof JobQueue)["LSFCluster"], "create"> = { create: async (o) => (await jobqueue()).LSFCluster.create(o) };
export type LSFCluster = JobQueue.LSFCluster;
export const OARCluster: Pick<(typeof JobQueue)["OARCluster"], "create"> = { create: async (o) => (await jobqueue()).OARCluster.create(o) };
export type OARCluster = JobQueue.OARCluster;
export const HTCondorCluster: Pick<(typeof JobQueue)["HTCondorCluster"], "create"> = { create: async (o) => (await jobqueue()).HTCondorCluster.create(o) };
export type HTCondorCluster = JobQueue.HTCondorCluster;
export const DRMAACluster: Pick<(typeof JobQueue)["DRMAACluster"], "create"> = { create: async (o) => (await jobqueue()).DRMAACluster.create(o) };
export type DRMAACluster = JobQueue.DRMAACluster;

export const DrmaaSession: Pick<(typeof Drmaa)["DrmaaSession"], "open"> = {
  open: async (contact) => (await import("./drmaa/index.js")).DrmaaSession.open(contact),
};
export type DrmaaSession = Drmaa.DrmaaSession;
