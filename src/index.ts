/**
 * dask-mpi-ts: the package entry for `import` (the public names are in api.ts). In a task thread
 * of a worker it first connects the thread's client to the scheduler (a top-level await), so a
 * task that imports the package can call getClient() synchronously, as Dask's get_client();
 * `require("dask-mpi-ts")` gets api.ts, which does not wait (getClient() there may say "still
 * connecting": `await workerClient(...)` connects first).
 */
import { startTaskClient } from "./client/task-client.js";
import { taskThreadSettings } from "./protocol/task-context.js";

export * from "./api.js";

if (taskThreadSettings()) await startTaskClient();
