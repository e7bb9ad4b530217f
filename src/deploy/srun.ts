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
import { ConfigError, WorldTooSmallError } from "../errors.js";
import { configureLogger } from "../log.js";
import { CLIENT_CONNECT_MS, runClientScript } from "./client-script.js";
import { detectLauncher } from "./launcher-env.js";
import { startScheduler, startWorker } from "./roles.js";
import { type ClusterOptions, clusterConfig, logSettings, schedulerSettings, workerSettings } from "./settings.js";
import { stopOnSignals } from "./signals.js";

export interface SrunOptions {
  cluster: ClusterOptions;
  /** Task 1 runs it as the client. */
  script?: string;
  scriptArgs: string[];
}

export async function runWithoutMpi(args: SrunOptions): Promise<void> {
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
  const { config, opts: o } = await clusterConfig(args.cluster, "--worker-options");
  configureLogger({ rank, role, ...logSettings(config, o) });

  if (role === "scheduler") {
    const scheduler = await startScheduler({ port: o.schedulerPort, interface: o.interface, tls: o.tls, schedulerFile: file, ...schedulerSettings(config, o) });
    stopOnSignals(scheduler);
    if (withScript) scheduler.role.closeWhenFirstClientLeaves(CLIENT_CONNECT_MS);
    await scheduler.ended;
    process.exit(0);
  }

  if (role === "client") return runClientScript({ connect: { schedulerFile: file }, tls: o.tls, script: args.script!, args: args.scriptArgs });

  const settings = workerSettings(config, o, { workersOnNode: env.localSize ?? 1 });
  const worker = { schedulerFile: file, name: o.name ? `${o.name}-${rank}` : String(rank), interface: o.interface, tls: o.tls, ...settings.worker };
  const handle = await startWorker({ worker, nanny: (o.nanny ?? true) && settings.nanny });
  stopOnSignals(handle);
  process.exit((await handle.ended).status);
}
