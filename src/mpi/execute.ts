/**
 * execute(): dask-mpi's `execute(client_function, ...)` for programs started as
 * `mpirun -np N node app.js`. Every rank calls it; the cluster forms (layout.ts: the scheduler
 * on `schedulerRank`, workers on the ranks with no other role, or on every rank without
 * `exclusiveWorkers`); `fn(client)` runs on `clientRank`, and its return ends the job: the
 * client shuts the cluster down and execute() resolves there with fn's value; this rank's
 * program ending then ends the job with status 0 (job.ts). Every other rank's execute() never
 * returns: the process exits with the job's status when the job ends.
 *
 * Unlike dask-mpi, where an exception in the client function leaves the job hanging, an error
 * thrown (or a rejection) in `fn` is printed on the client rank and ends the whole job with
 * status 1 within seconds (MPI_Abort through the end protocol).
 */
import type { Client } from "../client/client.js";
import { connectDefaultClient } from "../deploy/client-script.js";
import { ConfigError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { type ClusterOptions, exitAfter, failRank, startRank } from "./bootstrap.js";
import type { RankLayout } from "./layout.js";
import { rankNumber } from "./layout.js";

export interface ExecuteOptions extends ClusterOptions {
  /** The rank that runs `fn` (default 1). */
  clientRank?: number;
  /** The rank that runs the scheduler (default 0); may be the client's rank. */
  schedulerRank?: number;
  /** Workers only on ranks with no other role (default true); false: on every rank, the scheduler's and the client's too. */
  exclusiveWorkers?: boolean;
}

const log = () => logger("mpi");

/** How long the client rank waits for its own scheduler and worker to close after the shutdown. */
const LOCAL_ROLES_CLOSE_MS = 30_000;

/**
 * Run `fn(client)` on the client rank of a cluster formed by every rank of the MPI job.
 * Resolves with fn's value on the client rank (after the cluster has shut down); never returns
 * on the other ranks, which exit when the job ends.
 * @example
 * const total = await execute(async (client) => client.gather(client.map((x: number) => x * x, [1, 2, 3])), { nthreads: 1 });
 */
export async function execute<T>(fn: (client: Client) => T | Promise<T>, options: ExecuteOptions = {}): Promise<T> {
  let started: Awaited<ReturnType<typeof startRank>>;
  try {
    if (typeof fn !== "function") throw new ConfigError(`execute() needs a function to run on the client rank, got ${describeValue(fn)}`);
    started = await startRank(options, { layout: layoutOf(options), what: "execute()" });
  } catch (err) {
    failRank(err);
  }
  if (!started.roles.client) return exitAfter(started);
  const rank = started.job.rank;
  let client: Client;
  try {
    client = await connectDefaultClient({ address: started.address, secret: started.secret }, started.opts.tls);
  } catch (err) {
    failRank(new Error(`execute(): the client on rank ${rank} could not connect to the scheduler: ${describeError(err)}`, { cause: err }));
  }
  let value: T;
  try {
    value = await fn(client);
  } catch (err) {
    const shown = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : describeValue(err);
    process.stderr.write(`dask-mpi-ts: error: execute(): the client function failed on rank ${rank}; ending the job with status 1\n${shown}\n`);
    process.exit(1);
  }
  // dask-mpi's send_close_signal(): the client function's return ends the cluster. Best
  // effort (fn may have shut it down or closed the client itself): the end protocol ends the
  // other ranks anyway once this rank's program ends.
  try {
    if (!client.closed) {
      await client.shutdown();
      // this rank's own scheduler or worker (if any) closing, bounded: the exit hook cleans up the rest
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([started.done, new Promise((r) => (timer = setTimeout(r, LOCAL_ROLES_CLOSE_MS)))]);
      clearTimeout(timer);
    }
  } catch (err) {
    log().warn({ reason: describeError(err) }, "execute(): the shutdown after the client function failed; the end protocol ends the other ranks");
    await client.close();
  }
  return value;
}

/** The layout the options ask for, with each rank number checked. */
export function layoutOf(options: Pick<ExecuteOptions, "clientRank" | "schedulerRank" | "exclusiveWorkers">): RankLayout {
  const exclusive = options.exclusiveWorkers ?? true;
  if (typeof exclusive !== "boolean") throw new ConfigError(`exclusiveWorkers must be true or false, got ${describeValue(exclusive)}`);
  return {
    schedulerRank: rankNumber(options.schedulerRank ?? 0, "schedulerRank"),
    clientRank: rankNumber(options.clientRank ?? 1, "clientRank"),
    exclusiveWorkers: exclusive,
  };
}

function describeValue(v: unknown): string {
  return typeof v === "function" ? "a function" : (JSON.stringify(v) ?? String(v));
}
