/** `dask-mpi-ts/drmaa`: the DRMAA binding (loads the native library only when a session opens). */
export { DrmaaSession, type JobTemplate, type JobStatus, type JobExit, type JobAction } from "./session.js";
