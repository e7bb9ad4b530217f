/**
 * `srun dask-mpi-ts --no-mpi --scheduler-file FILE [SCRIPT]`: the same roles as under mpirun,
 * inside one SLURM allocation without MPI. Each task takes its role from srun's environment
 * (SLURM_PROCID, SLURM_NTASKS): task 0 the scheduler, task 1 the SCRIPT (if given), the others
 * workers. There is no broadcast: the address and secret travel through the scheduler file
 * (mode 0600, on a file system all nodes of the allocation see).
 *
 * End: the scheduler closes when the SCRIPT's client goes away (its process ended, however it
 * ended), and closes the workers; srun then exits with the highest task status, the script's.
 */
import type { Client } from "../client/client.js";
import { logSettings, schedulerSettings, workerSettings } from "../deploy/settings.js";
import { startupConfig } from "../config/startup.js";
import { ConfigError, WorldTooSmallError } from "../errors.js";
import { configureLogger } from "../log.js";
import { detectLauncher } from "../deploy/launcher-env.js";
import type { DaskMpiArgs } from "./dask-mpi.js";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** Task 0 waits this long for the SCRIPT's client to connect before it gives up on it. */
const CLIENT_CONNECT_MS = 60_000;

export async function runWithoutMpi(args: DaskMpiArgs): Promise<void> {
  const env = detectLauncher();
  if (env.launcher !== "slurm" || env.rank === undefined || env.size === undefined) {
    throw new ConfigError("--no-mpi takes the roles from srun (SLURM_PROCID, SLURM_NTASKS): run it as `srun -n N dask-mpi-ts --no-mpi --scheduler-file FILE`");
  }
  const file = args.cluster.schedulerFile;
  if (!file) throw new ConfigError("--no-mpi needs --scheduler-file FILE (on a file system every task sees): it is how the tasks find the scheduler");
  const withScript = args.script !== undefined;
  const needed = withScript ? 3 : 2;
  const what = withScript ? "srun dask-mpi-ts --no-mpi SCRIPT" : "srun dask-mpi-ts --no-mpi";
  // every task sees the same size, so every task says so and leaves the same way
  if (env.size < needed) throw new WorldTooSmallError(env.size, needed, what, { unit: "tasks", command: "srun -n" });
  const { rank } = env;
  const role = rank === 0 ? "scheduler" : withScript && rank === 1 ? "client" : "worker";
  const config = await startupConfig();
  configureLogger({ rank, role, ...logSettings(config, args.cluster) });
  const o = args.cluster;

  if (role === "scheduler") {
    const [{ Scheduler }, { newSecret }] = await Promise.all([import("../scheduler/server.js"), import("../comm/handshake.js")]);
    const scheduler = await Scheduler.start({ secret: newSecret(), port: o.schedulerPort, interface: o.interface, tls: o.tls, schedulerFile: file, ...schedulerSettings(config) });
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void scheduler.close(`received ${sig}`));
    if (withScript) scheduler.closeWhenFirstClientLeaves(CLIENT_CONNECT_MS);
    await scheduler.closed;
    process.exit(0);
  }

  if (role === "client") {
    const [{ Client }, { setDefaultClient }] = await Promise.all([import("../client/client.js"), import("../client/default.js")]);
    const client: Client = await Client.connect({ schedulerFile: file, tls: o.tls, timeout: CLIENT_CONNECT_MS });
    setDefaultClient(client);
    const script = path.resolve(args.script!);
    process.argv = [process.argv[0]!, script, ...args.scriptArgs];
    await import(pathToFileURL(script).href);
    return;
  }

  const settings = workerSettings(config, o, { workersOnNode: env.localSize ?? 1 });
  const worker = { schedulerFile: file, name: o.name ? `${o.name}-${rank}` : String(rank), interface: o.interface, tls: o.tls, ...settings.worker };
  let ok: boolean;
  if (o.nanny ?? true) {
    const { Nanny } = await import("../nanny/nanny.js");
    const nanny = await Nanny.start({ worker, ...settings.nanny });
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void nanny.close(`received ${sig}`));
    ok = (await nanny.closed).ok;
  } else {
    const { Worker } = await import("../worker/worker.js");
    const w = await Worker.start(worker);
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void w.close(`received ${sig}`));
    await w.closed;
    ok = w.cleanExit;
  }
  process.exit(ok ? 0 : 1);
}
