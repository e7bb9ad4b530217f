/** The process's default client: the one `dask-mpi-ts SCRIPT` or initialize() connected. */
import { ConfigError } from "../errors.js";
import type { Client } from "./client.js";

let current: Client | undefined;

export function setDefaultClient(client: Client | undefined): void {
  current = client;
}

/** The client of this program (rank 1 of `dask-mpi-ts SCRIPT` or of initialize()). */
export function getClient(): Client {
  if (!current) {
    throw new ConfigError("no default client: getClient() works in a script run by dask-mpi-ts SCRIPT or after initialize(); elsewhere use Client.connect()");
  }
  return current;
}
