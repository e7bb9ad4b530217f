/**
 * The closed set of named errors of dask-mpi-ts. Each has a stable `code` that tests and users
 * can match on, a lower-case message that names the offending value, and an optional `cause`.
 */

export type ErrorCode =
  | "ERR_COMM_CLOSED"
  | "ERR_PROTOCOL"
  | "ERR_HANDSHAKE"
  | "ERR_TIMEOUT"
  | "ERR_CONFIG"
  | "ERR_MPI"
  | "ERR_WORLD_TOO_SMALL"
  | "ERR_WORKER_DIED"
  | "ERR_REMOTE_TASK"
  | "ERR_ADDON_LOAD"
  | "ERR_CANCELLED"
  | "ERR_SCHEDULER_LOST"
  | "ERR_KILLED_WORKER"
  | "ERR_JOB_QUEUE"
  | "ERR_DRMAA"
  | "ERR_DRMAA_UNAVAILABLE"
  | "ERR_COORDINATION"
  | "ERR_JUPYTER"
  | "ERR_JOURNAL"
  | "ERR_WORKER_PLUGIN";

export class DaskError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer went away, or this side closed the connection. */
export class CommClosedError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_COMM_CLOSED", message, options);
  }
}

/** Bytes or messages that break the wire protocol (bad frame, bad msgpack, unknown op). */
export class ProtocolError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_PROTOCOL", message, options);
  }
}

/** A peer announced a frame over this process's `distributed.comm.max-frame-size`. */
/** Largest payload a frame's 32-bit header can describe: no setting can raise it. */
export const MAX_FRAME_LIMIT = 0xffff_ffff;
/**
 * Bytes of user values one frame may carry: the rest of MAX_FRAME_LIMIT is left to the
 * messages' envelopes (keys, part tables, padding). A sender that knows its message is big says
 * so (Comm.send's `bytes`), and a batch that would pass this leaves in two frames.
 */
export const FRAME_SHARE_BYTES = MAX_FRAME_LIMIT - (1 << 20);

/** Bytes of values one message may carry to a peer taking frames up to `maxFrame` (1 MiB left to the envelope, or a sixteenth of a small cap). */
export function frameShare(maxFrame: number): number {
  return maxFrame - Math.min(1 << 20, Math.floor(maxFrame / 16));
}

export class FrameTooLargeError extends ProtocolError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
    message = `frame of ${bytes} bytes exceeds the limit of ${limit} bytes`,
  ) {
    super(message);
  }

  /** Over what any frame carries (4 GiB - 1 less the envelope), not only a configured cap: it can never travel. */
  get overCap(): boolean {
    return this.limit >= MAX_FRAME_LIMIT || this.bytes > FRAME_SHARE_BYTES;
  }
}

/** The FrameTooLargeError behind `err` (a connection closed on it keeps it as its cause), if any. */
export function frameTooLarge(err: unknown): FrameTooLargeError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof FrameTooLargeError) return e;
  return undefined;
}

/** The peer did not prove knowledge of the cluster secret (or stalled doing so). */
export class HandshakeError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_HANDSHAKE", message, options);
  }
}

/** A bounded wait ran past its deadline. */
export class TimeoutError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_TIMEOUT", message, options);
  }
}

/** A DRMAA call failed: `codeName` is DRMAA's (DRMAA_ERRNO_DENIED_BY_DRM, ...), `diagnosis` the resource manager's text. */
export class DrmaaError extends DaskError {
  readonly drmaaCode: number;
  readonly codeName: string;
  readonly diagnosis: string;
  constructor(message: string, details: { drmaaCode: number; codeName: string; diagnosis: string }, options?: { cause?: unknown }) {
    super("ERR_DRMAA", message, options);
    this.drmaaCode = details.drmaaCode;
    this.codeName = details.codeName;
    this.diagnosis = details.diagnosis;
  }
}

/** The DRMAA binding or library is not there; the message says what to install and set. */
export class DrmaaUnavailableError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_DRMAA_UNAVAILABLE", message, options);
  }
}

/**
 * A dataset or coordination primitive used against its state on the scheduler: an unknown or
 * already published dataset name, a lock released by an object that does not hold it, a
 * semaphore whose max leases disagree, a future the scheduler no longer knows.
 */
export class CoordinationError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_COORDINATION", message, options);
  }
}

/**
 * A Jupyter server next to the scheduler could not start or be used (client.startJupyter):
 * Jupyter or the kernel is not installed (the message says what to install), the port is
 * taken, or the server exited (its exit code and last output lines, the token blanked out).
 */
export class JupyterError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_JUPYTER", message, options);
  }
}

/**
 * The scheduler's journal cannot be used: its directory cannot be written, another scheduler
 * holds its lock, or a file in it is damaged or of another format; the message names the file
 * (and the offset or version).
 */
export class JournalError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_JOURNAL", message, options);
  }
}

/** A flag, option or configuration value is invalid; the message names it and its source. */
export class ConfigError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CONFIG", message, options);
  }
}

/** An MPI call returned an error (MPI_ERRORS_RETURN is set, so MPI never aborts silently). */
export class MpiError extends DaskError {
  readonly mpiClass: number;
  readonly mpiString: string;
  readonly rank: number;
  constructor(message: string, info: { mpiClass: number; mpiString: string; rank: number }, options?: { cause?: unknown }) {
    super("ERR_MPI", message, options);
    this.mpiClass = info.mpiClass;
    this.mpiString = info.mpiString;
    this.rank = info.rank;
  }
}

/** The MPI world (or srun's tasks) has fewer ranks than the chosen mode needs. */
export class WorldTooSmallError extends DaskError {
  readonly size: number;
  readonly needed: number;
  /** `launch.detail` says which ranks the mode places where ("scheduler on rank 0, client on rank 1, ..."). */
  constructor(size: number, needed: number, mode: string, launch: { unit?: string; command?: string; detail?: string } = {}) {
    const { unit = "MPI ranks", command = "mpirun -np", detail } = launch;
    super(
      "ERR_WORLD_TOO_SMALL",
      `${mode} needs at least ${needed} ${unit}, got ${size}${detail ? ` (${detail})` : ""}: run with ${command} ${needed} or more`,
    );
    this.size = size;
    this.needed = needed;
  }
}

/** A worker process ended while it held work. */
export class WorkerDiedError extends DaskError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(message: string, info: { exitCode: number | null; signal: string | null }, options?: { cause?: unknown }) {
    super("ERR_WORKER_DIED", message, options);
    this.exitCode = info.exitCode;
    this.signal = info.signal;
  }
}

/** A task raised on a worker; carries the remote message, stack and the task key. */
export class RemoteTaskError extends DaskError {
  readonly key: string;
  readonly remoteName: string;
  readonly remoteMessage: string;
  readonly remoteStack: string;
  /** Set when the task did not run because this dependency failed. */
  readonly failedDependency: string | undefined;
  /**
   * The remote error rebuilt here: an Error whose `name` and `message` are the remote ones and
   * whose `stack` is the remote stack, for checks by name (`err.cause.name === "RangeError"`)
   * without `instanceof` (the remote class does not exist here).
   */
  declare readonly cause: Error;
  constructor(key: string, remote: { name: string; message: string; stack: string }, failedDependency?: string) {
    super(
      "ERR_REMOTE_TASK",
      failedDependency
        ? `task ${JSON.stringify(key)} failed because its dependency ${JSON.stringify(failedDependency)} failed: ${remote.name}: ${remote.message}`
        : `task ${JSON.stringify(key)} failed: ${remote.name}: ${remote.message}`,
      { cause: rebuildRemoteError(remote) },
    );
    this.key = key;
    this.failedDependency = failedDependency;
    this.remoteName = remote.name;
    this.remoteMessage = remote.message;
    this.remoteStack = remote.stack;
  }
}

/**
 * A worker plugin's setup or teardown threw on a worker, or the worker did not answer (closed,
 * timed out): the plugin, the worker's address and the remote error (also as `cause`).
 */
export class WorkerPluginError extends DaskError {
  readonly plugin: string;
  readonly worker: string;
  readonly remoteName: string;
  readonly remoteMessage: string;
  declare readonly cause: Error;
  constructor(plugin: string, step: "setup" | "teardown", worker: string, remote: { name: string; message: string; stack: string }) {
    super("ERR_WORKER_PLUGIN", `worker plugin ${JSON.stringify(plugin)}: its ${step} failed on worker ${worker}: ${remote.name}: ${remote.message}`, { cause: rebuildRemoteError(remote) });
    this.plugin = plugin;
    this.worker = worker;
    this.remoteName = remote.name;
    this.remoteMessage = remote.message;
  }
}

/** A task was running on `allowed-failures` workers that died: it is taken to be the cause. */
export class KilledWorkerError extends DaskError {
  readonly key: string;
  constructor(key: string, message: string) {
    super("ERR_KILLED_WORKER", message);
    this.key = key;
  }
}

/** The native MPI addon could not be loaded; lists every path tried and how to build it. */
export class AddonLoadError extends DaskError {
  readonly tried: string[];
  constructor(message: string, tried: string[], options?: { cause?: unknown }) {
    super("ERR_ADDON_LOAD", message, options);
    this.tried = tried;
  }
}

/** A future or wait was cancelled (client closed, task cancelled). */
export class CancelledError extends DaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CANCELLED", message, options);
  }
}

/**
 * The client lost its scheduler (the connection closed, or the scheduler stopped answering) and
 * it did not come back within the client's reconnect window: work in flight cannot finish.
 */
export class SchedulerLostError extends DaskError {
  readonly address: string;
  /** How long the client waited for the scheduler before giving up (ms). */
  readonly waitedMs: number;
  constructor(message: string, info: { address: string; waitedMs: number }, options?: { cause?: unknown }) {
    super("ERR_SCHEDULER_LOST", message, options);
    this.address = info.address;
    this.waitedMs = info.waitedMs;
  }
}

/**
 * A job-queue command (sbatch, qsub, bsub, scancel, ...) failed, or its output could not be
 * understood; carries the command line, its exit code and what the queue system said.
 */
export class JobQueueError extends DaskError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly stdout: string;
  constructor(message: string, info: { command: string; exitCode: number | null; stderr: string; stdout: string }, options?: { cause?: unknown }) {
    super("ERR_JOB_QUEUE", message, options);
    this.command = info.command;
    this.exitCode = info.exitCode;
    this.stderr = info.stderr;
    this.stdout = info.stdout;
  }
}

/** Error text for logs and messages, without assuming the thrown value is an Error. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An Error standing for a remote one: its name, message and (remote) stack. */
export function rebuildRemoteError(remote: { name: string; message: string; stack: string }): Error {
  const err = new Error(remote.message);
  err.name = remote.name;
  err.stack = remote.stack || `${remote.name}: ${remote.message}`;
  return err;
}
