/** dask-mpi-ts: the public surface. Importing this module never loads the MPI addon. */
export { Client, KeyRef, ref, type SubmitOptions, type MapOptions, type ScatterOptions, type ConnectOptions, type ConnectTarget, type WorkerSummary } from "./client/client.js";
export { remote, type RemoteFunction, type WireFunction } from "./protocol/functions.js";
export { wait, asCompleted, type WaitOptions, type ReturnWhen } from "./client/wait.js";
export { progress, type ProgressOptions } from "./client/progress.js";
export { Future, type FutureStatus } from "./client/future.js";
export { getClient } from "./client/default.js";
export { initialize, type InitializeOptions } from "./mpi/initialize.js";
export {
  DaskError,
  CommClosedError,
  ProtocolError,
  HandshakeError,
  TimeoutError,
  ConfigError,
  MpiError,
  WorldTooSmallError,
  WorkerDiedError,
  RemoteTaskError,
  KilledWorkerError,
  AddonLoadError,
  CancelledError,
  SchedulerLostError,
  JobQueueError,
  DrmaaError,
  DrmaaUnavailableError,
} from "./errors.js";
export { Scheduler } from "./scheduler/server.js";
export type { SchedulerOptions } from "./scheduler/options.js";
export { Worker } from "./worker/worker.js";
export type { WorkerOptions } from "./worker/options.js";
export { JobQueueCluster, type JobInfo } from "./jobqueue/cluster.js";
export { SLURMCluster } from "./jobqueue/slurm.js";
export { PBSCluster } from "./jobqueue/pbs.js";
export { SGECluster } from "./jobqueue/sge.js";
export { LSFCluster } from "./jobqueue/lsf.js";
export { DRMAACluster, type DRMAAOptions } from "./jobqueue/drmaa.js";
export { DrmaaSession, type JobTemplate, type JobStatus, type JobExit } from "./drmaa/session.js";
export type { JobQueueOptions, SLURMOptions, LSFOptions } from "./jobqueue/options.js";
export type { AdaptOptions } from "./jobqueue/adapt.js";
