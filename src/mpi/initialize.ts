/**
 * initialize(): for programs started as `mpirun -np N node app.js`. Rank 0 becomes the
 * scheduler and ranks >= 2 workers; they never return (they exit when the job ends), unless
 * `exit: false`, where they resolve `null` once the cluster has shut down. Rank 1 gets a
 * connected Client; when its program ends, however it ends, the whole job ends with its status.
 * Options given here win over the configuration (YAML files, DASK_MPI_TS_CONFIG, DASK_MPI_TS_*
 * variables), which wins over the defaults; a bad configuration value fails every rank.
 */
import type { Client } from "../client/client.js";
import { connectDefaultClient } from "../deploy/client-script.js";
import { type ClusterOptions, failRank, startRank } from "./bootstrap.js";
import { DEFAULT_LAYOUT } from "./layout.js";

export interface InitializeOptions extends ClusterOptions {
  /** Non-client ranks exit when the job ends (default), or with false return null. */
  exit?: boolean;
}

/**
 * @example
 * const client = await initialize({ interface: "ib0", nthreads: 1 });
 * const total = await client.gather(client.map((x: number) => x * x, [1, 2, 3]));
 */
export async function initialize(options: InitializeOptions = {}): Promise<Client | null> {
  try {
    const started = await startRank(options, { layout: { ...DEFAULT_LAYOUT, clientRank: 1 }, what: "initialize()" });
    if (started.roles.client) return await connectDefaultClient({ address: started.address, secret: started.secret }, options.tls);
    const own = await started.done;
    if (own !== 0) process.exit(own);
    if (options.exit === false) return null;
    process.exit(await started.job.clientEnded());
  } catch (err) {
    failRank(err);
  }
}
