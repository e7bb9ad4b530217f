/** The nanny's options, and their defaults (literals: roles do not read the configuration). */
import type { ChildProcess } from "node:child_process";
import type { WorkerOptions } from "../worker/options.js";

export interface NannyOptions {
  worker: WorkerOptions;
  /** Fields for the child's log lines (e.g. the MPI rank); it logs at this process's level and format. */
  log?: Record<string, string | number>;
  /** After the worker retires (its lifetime), start a fresh one (`--lifetime-restart`). */
  restartAfterRetire?: boolean;
  /** Restarts allowed within `restartWindowMs` before the nanny gives up (default 5 in 60 s). */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Called before each fork (e.g. to mark the MPI launcher's descriptors close-on-exec). */
  beforeFork?: () => void;
  /** The children's environment (default: this process's). */
  childEnv?: NodeJS.ProcessEnv;
  /** A child from Nanny.prefork() to use for the first worker. */
  child?: ChildProcess;
  /** How long a child may take to start (default 60 s). */
  startTimeoutMs?: number;
  /**
   * false: the worker child and its channel do not keep this process alive (the rank that also
   * runs the client's script ends when the script does; its exit ends the child). Default true.
   */
  holdsProcess?: boolean;
}

/** Defaults of the options above; the same as the configuration's (`distributed.nanny.*`, `distributed.worker.lifetime.restart`), which a unit test checks. */
export const NANNY_DEFAULTS: Required<Pick<NannyOptions, "maxRestarts" | "restartWindowMs" | "restartAfterRetire">> = {
  maxRestarts: 5,
  restartWindowMs: 60_000,
  restartAfterRetire: false,
};
