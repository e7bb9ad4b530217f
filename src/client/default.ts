/** The process's default client: the one `dask-mpi-ts SCRIPT` or initialize() connected. */
import { ConfigError } from "../errors.js";
import type { Client } from "./client.js";
import { connectedTaskClient } from "./task-client.js";

let current: Client | undefined;

export function setDefaultClient(client: Client | undefined): void {
  current = client;
}

/**
 * The client of this program (rank 1 of `dask-mpi-ts SCRIPT` or of initialize()); inside a task
 * on a worker, a client of the same scheduler (one per task thread, reused), as Dask's
 * get_client(). A task that waits on tasks it submitted should secede() first, or use
 * workerClient(): otherwise, on a worker whose threads are all waiting, nothing can run.
 * @example const { getClient, secede, rejoin } = await import("dask-mpi-ts"); const client = getClient();
 */
export function getClient(): Client {
  const inTask = current ? undefined : connectedTaskClient();
  if (inTask) return inTask;
  if (!current) {
    throw new ConfigError("no default client: getClient() works in a script run by dask-mpi-ts SCRIPT, after initialize(), or in a task on a worker; elsewhere use Client.connect()");
  }
  return current;
}
