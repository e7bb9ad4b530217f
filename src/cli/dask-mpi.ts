/**
 * `dask-mpi-ts`: run under mpirun. Rank 0 (--scheduler-rank) becomes the scheduler; with a
 * SCRIPT, rank 1 runs it as the client and the other ranks are workers; without, the other
 * ranks are workers and clients connect from outside through --scheduler-file.
 * --inclusive-workers puts a worker on the scheduler's (and the SCRIPT's) rank too.
 */
import type { ClusterOptions } from "../deploy/settings.js";
import { ConfigError, describeError } from "../errors.js";
import { LOG_LEVELS } from "../log.js";
import { protocolTls } from "../comm/tls.js";
import { type RankLayout, rankNumber } from "../mpi/layout.js";
import { type FlagSpec, helpText, logFormat, logLevel, parseFlags, portNumber } from "./args.js";
import { printConfig } from "./config-command.js";
import { WORKER_FLAGS, workerGiven } from "./worker-flags.js";
import { TLS_FLAGS, tlsGiven } from "./tls-flags.js";

export const FLAGS: FlagSpec[] = [
  { name: "scheduler-file", type: "string", valueName: "FILE", help: "write the scheduler's address (and secret, mode 0600) here for outside clients" },
  { name: "scheduler-port", type: "string", valueName: "PORT", help: "port of the scheduler (default: random)" },
  { name: "scheduler-rank", type: "string", valueName: "N", default: "0", help: "the MPI rank that runs the scheduler; it must be below the world size" },
  { name: "inclusive-workers", type: "boolean", help: "the scheduler's rank (and, with a SCRIPT, rank 1) also runs a worker; default: workers only on the other ranks" },
  { name: "scheduler-address", type: "string", valueName: "ADDR", help: "with --no-scheduler: the scheduler to join (tcp://host:port)" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface to bind and advertise, e.g. ib0 (default: that of the default route)" },
  ...WORKER_FLAGS,
  {
    name: "worker-options", type: "string", valueName: "JSON",
    help: 'worker settings as a JSON object of distributed.worker keys (see `dask-mpi-ts config`), merged last, over the flags: \'{"nthreads": 2, "memory": {"target": 0.5}}\'',
  },
  { name: "protocol", type: "string", valueName: "tcp|tls", help: "the cluster's protocol; tls needs --tls-cert, --tls-key and --tls-ca (default: tls when they are given, else tcp)" },
  ...TLS_FLAGS,
  { name: "journal", type: "string", valueName: "DIR", help: "journal the scheduler's durable facts in DIR (shared file system); a scheduler started on it takes over", config: "distributed.scheduler.journal.directory" },
  { name: "checkpoint", type: "boolean", help: "with --journal: also write every result to DIR's checkpoints", config: "distributed.scheduler.journal.checkpoint" },
  { name: "dashboard-address", type: "string", valueName: "ADDR", default: ":8787", help: "where the scheduler's rank serves the dashboard: :8787 (default), host:port; a taken port falls back to a free one" },
  { name: "dashboard", type: "boolean", default: true, help: "serve the dashboard (--no-dashboard: none)" },
  { name: "nanny", type: "boolean", default: true, help: "run each worker in a child process that is restarted if it crashes (--no-nanny never forks)" },
  { name: "mpi", type: "boolean", default: true, help: "--no-mpi: under srun without MPI, roles from SLURM_PROCID/SLURM_NTASKS; the tasks meet through --scheduler-file" },
  { name: "scheduler", type: "boolean", default: true, help: "start a scheduler on rank 0 or --scheduler-rank (--no-scheduler: every rank is a worker joining --scheduler-file/--scheduler-address)" },
  { name: "name", type: "string", valueName: "PREFIX", help: "worker name prefix: workers are <name>-<rank> (default: the rank)" },
  { name: "log-level", type: "string", valueName: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, config: "logging.level" },
  { name: "log-format", type: "string", valueName: "FORMAT", help: "json (default when stderr is not a terminal) or pretty", config: "logging.format" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

const USAGE = "mpirun -np N dask-mpi-ts [options] [SCRIPT [ARGS...]]   |   dask-mpi-ts config [--describe]";
const DESCRIPTION = [
  "Start a dask-mpi-ts cluster inside an MPI job: rank 0 (--scheduler-rank) runs the scheduler,",
  "the other ranks run workers. With SCRIPT, rank 1 runs it as the client (getClient() returns a",
  "connected client) and mpirun exits with the script's status.",
  "",
  "A flag overrides the configuration key in [brackets]; the configuration is the defaults,",
  "then ~/.config/dask-mpi-ts/*.yaml, then the file or directory in DASK_MPI_TS_CONFIG, then",
  "DASK_MPI_TS_<KEY> variables (DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS=4). `dask-mpi-ts",
  "config` shows it, with where each value came from.",
].join("\n");

export interface DaskMpiArgs {
  cluster: ClusterOptions;
  /** Where the scheduler and workers go (the client rank, 1, is added with a SCRIPT). */
  layout: RankLayout;
  noScheduler: boolean;
  /** roles from srun's environment, not MPI */
  noMpi: boolean;
  schedulerAddress?: string;
  script?: string;
  scriptArgs: string[];
}

export function parseDaskMpiArgs(argv: string[]): DaskMpiArgs | "help" {
  const { flags, positionals } = parseFlags(argv, FLAGS, { stopAtPositional: true });
  if (flags.help) return "help";
  const cluster: ClusterOptions = {
    ...workerGiven(flags),
    schedulerFile: flags["scheduler-file"] as string | undefined,
    schedulerPort: portNumber(flags["scheduler-port"], "scheduler-port"),
    interface: flags.interface as string | undefined,
    tls: tlsGiven(flags),
    dashboardAddress: flags.dashboard ? (flags["dashboard-address"] as string) : false,
    nanny: flags.nanny as boolean,
    name: flags.name as string | undefined,
    logLevel: logLevel(flags["log-level"]),
    logFormat: logFormat(flags["log-format"]),
    protocol: flags.protocol as ClusterOptions["protocol"],
    workerOptions: workerOptions(flags["worker-options"]),
    journal: flags.journal as string | undefined,
    checkpoint: flags.checkpoint as boolean | undefined,
  };
  protocolTls(cluster.protocol, cluster.tls);
  const layout: RankLayout = { schedulerRank: rankNumber(flags["scheduler-rank"], "--scheduler-rank"), exclusiveWorkers: flags["inclusive-workers"] !== true };
  const noScheduler = flags.scheduler === false;
  const schedulerAddress = flags["scheduler-address"] as string | undefined;
  if (noScheduler && !schedulerAddress && !cluster.schedulerFile) {
    throw new ConfigError("--no-scheduler needs --scheduler-file or --scheduler-address to find the scheduler");
  }
  const [script, ...scriptArgs] = positionals;
  if (script && noScheduler) throw new ConfigError(`a client SCRIPT (${JSON.stringify(script)}) needs a scheduler: drop --no-scheduler`);
  const noMpi = flags.mpi === false;
  if (noMpi && noScheduler) throw new ConfigError("--no-mpi and --no-scheduler do not go together: under --no-mpi task 0 is the scheduler; workers joining another scheduler are dask-worker-ts");
  const placed = layout.schedulerRank !== 0 ? `--scheduler-rank ${layout.schedulerRank}` : !layout.exclusiveWorkers ? "--inclusive-workers" : undefined;
  if (placed && noScheduler) throw new ConfigError(`${placed} places the scheduler's rank, and --no-scheduler starts none: drop one`);
  if (placed && noMpi) throw new ConfigError(`${placed} is for MPI jobs; under --no-mpi task 0 is the scheduler and the other tasks are workers`);
  if (script !== undefined) layout.clientRank = 1;
  return { cluster, layout, noScheduler, noMpi, schedulerAddress, script, scriptArgs };
}

/** `--worker-options JSON`: a JSON object (its keys and values are checked with the configuration schema when the cluster starts). */
function workerOptions(value: string | boolean | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch (err) {
    throw new ConfigError(`--worker-options must be a JSON object, got ${JSON.stringify(value)}: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`--worker-options must be a JSON object of distributed.worker settings (e.g. '{"nthreads": 2}'), got ${JSON.stringify(value)}`);
  }
  return parsed as Record<string, unknown>;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  if (argv[0] === "config") return printConfig(argv.slice(1));
  let args: DaskMpiArgs | "help";
  try {
    args = parseDaskMpiArgs(argv);
  } catch (err) {
    process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
    process.exit(2);
  }
  if (args === "help") {
    process.stdout.write(helpText(USAGE, DESCRIPTION, FLAGS));
    return;
  }
  try {
    // each mode's modules load only where it runs (start-up time is every rank's)
    if (args.noScheduler) return await (await import("../mpi/no-scheduler.js")).runNoScheduler(args.cluster, args.schedulerAddress);
    if (args.noMpi) return await (await import("../deploy/srun.js")).runWithoutMpi(args);
    return await (await import("../mpi/bootstrap.js")).runMpiJob(args.cluster, args.layout, args.script === undefined ? undefined : { path: args.script, args: args.scriptArgs });
  } catch (err) {
    process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
    process.exit(1);
  }
}
