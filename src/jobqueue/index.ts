/**
 * `dask-mpi-ts/jobqueue`: the job-queue clusters as classes (for `instanceof` and subclassing).
 * The package entry re-exports `create` for each of them lazily (src/lazy.ts).
 */
export { JobQueueCluster, type JobInfo } from "./cluster.js";
export { SLURMCluster } from "./slurm.js";
export { PBSCluster } from "./pbs.js";
export { SGECluster } from "./sge.js";
export { LSFCluster } from "./lsf.js";
export { OARCluster } from "./oar.js";
export { HTCondorCluster } from "./htcondor.js";
export type { PoolOptions } from "./pools.js";
export { DRMAACluster, type DRMAAOptions } from "./drmaa.js";
export type { JobQueueOptions, SLURMOptions, LSFOptions } from "./options.js";
export type { AdaptOptions } from "./adapt.js";
