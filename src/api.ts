/**
 * dask-mpi-ts: the public surface, without top-level await, so `require("dask-mpi-ts")` works
 * (Node >= 20.19 loads an ES module by require() unless its graph awaits at top level): the
 * package's `require` condition points here, for CommonJS code such as a tslab notebook cell,
 * which compiles `import { Client } from "dask-mpi-ts"` to require(). `import` gets index.ts,
 * which re-exports this and, in a task thread, connects the thread's client first (getClient()).
 * It loads the client only (every rank of an MPI job imports it): `initialize`, `execute`, the
 * job-queue clusters and `DrmaaSession` load their modules on first use (src/lazy.ts). The roles
 * are in `dask-mpi-ts/server`, the cluster classes in `dask-mpi-ts/jobqueue`, the DRMAA binding
 * in `dask-mpi-ts/drmaa`.
 */
export { Client, KeyRef, ref, type Gathered, type GatherOptions, type LogRecord, type LogsOptions, type WorkerLogsOptions, type SubmitOptions, type MapOptions, type ScatterOptions, type ConnectOptions, type ConnectTarget, type WorkerSummary } from "./client/client.js";
export { remote, type RemoteFunction, type WireFunction } from "./protocol/functions.js";
export { wait, asCompleted, type AsCompleted, type WaitOptions, type ReturnWhen } from "./client/wait.js";
export { progress, type ProgressOptions } from "./client/progress.js";
export { Future, type FutureStatus, type FutureHost } from "./client/future.js";
export { getClient } from "./client/default.js";
export { Lock, Semaphore, type AcquireOptions, type SemaphoreOptions } from "./client/lock.js";
export { Queue, Variable, Event, type QueueOptions } from "./client/queue.js";
export { Pub, Sub } from "./client/pubsub.js";
export type { PrimitiveOptions } from "./client/primitive.js";
export { workerClient } from "./client/task-client.js";
export { type Actor, actorOf } from "./client/actor.js";
export { secede, rejoin, workerPlugin, getWorker, type TaskWorker } from "./protocol/task-context.js";
export type { WorkerPlugin, PluginOptions } from "./client/plugins.js";
export { fireAndForget } from "./client/fire-and-forget.js";
export { performanceReport } from "./client/performance-report.js";
export type { TaskStreamOptions, TaskStreamRecord, TaskStreamTransfer } from "./client/task-stream.js";
export type { ReplicateOptions, RebalanceOptions } from "./client/locality.js";
export type { JupyterOptions, JupyterServer } from "./client/jupyter.js";
export {
  DaskError,
  CommClosedError,
  ProtocolError,
  FrameTooLargeError,
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
  CoordinationError,
  JupyterError,
  JournalError,
  WorkerPluginError,
} from "./errors.js";
export { initialize, execute, SLURMCluster, PBSCluster, SGECluster, LSFCluster, OARCluster, HTCondorCluster, DRMAACluster, DrmaaSession } from "./lazy.js";
export type { InitializeOptions } from "./mpi/initialize.js";
export type { ExecuteOptions } from "./mpi/execute.js";
export type { JobQueueCluster, JobInfo, DRMAAOptions, JobQueueOptions, SLURMOptions, LSFOptions, AdaptOptions, PoolOptions } from "./jobqueue/index.js";
export type { WhyPending, QueueReport, QueueJob, QueuePool } from "./protocol/messages-pending.js";
export type { JobTemplate, JobStatus, JobExit } from "./drmaa/index.js";
