/**
 * `dask-worker-ts`: a standalone worker joining a scheduler by address or scheduler file.
 * Settings not given as flags come from the configuration (see `dask-mpi-ts config`).
 */
import { logSettings, workerSettings } from "../config/settings.js";
import { startupConfig } from "../config/startup.js";
import { ConfigError, describeError } from "../errors.js";
import { configureLogger, LOG_LEVELS } from "../log.js";
import { Nanny } from "../nanny/nanny.js";
import { waitForSchedulerFile } from "../scheduler/scheduler-file.js";
import { Worker, type WorkerOptions } from "../worker/worker.js";
import { type FlagSpec, helpText, logLevel, parseFlags } from "./args.js";
import { WORKER_FLAGS, workerGiven } from "./worker-flags.js";

const FLAGS: FlagSpec[] = [
  { name: "scheduler-file", type: "string", valueName: "FILE", help: "find the scheduler (address and secret) in this file" },
  { name: "name", type: "string", valueName: "NAME", help: "worker name (default: its address)" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface to bind and advertise" },
  ...WORKER_FLAGS,
  { name: "nanny", type: "boolean", default: true, help: "supervise the worker in a child process (--no-nanny never forks)" },
  { name: "log-level", type: "string", valueName: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, config: "logging.level" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

const USAGE = "dask-worker-ts [options] (--scheduler-file FILE | tcp://host:port)";
const DESCRIPTION = [
  "Run a dask-mpi-ts worker. The secret comes from the scheduler file or DASK_MPI_TS_SECRET.",
  "A flag overrides the configuration key in [brackets] (see `dask-mpi-ts config`).",
].join("\n");

export async function main(argv = process.argv.slice(2)): Promise<void> {
  try {
    const { flags, positionals } = parseFlags(argv, FLAGS, { stopAtPositional: false });
    if (flags.help) {
      process.stdout.write(helpText(USAGE, DESCRIPTION, FLAGS));
      return;
    }
    const given = workerGiven(flags);
    const config = await startupConfig();
    configureLogger({ role: "worker", ...logSettings(config, { logLevel: logLevel(flags["log-level"]) }) });
    const settings = workerSettings(config, given, { workersOnNode: 1 });
    const { address, secret } = await locate(flags["scheduler-file"] as string | undefined, positionals[0], settings.worker.deathTimeoutMs);
    const options: WorkerOptions = {
      schedulerAddress: address,
      secret,
      name: flags.name as string | undefined,
      interface: flags.interface as string | undefined,
      ...settings.worker,
    };
    let ok: boolean;
    if (flags.nanny) {
      const nanny = await Nanny.start({ worker: options, ...settings.nanny });
      for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void nanny.close(`received ${sig}`));
      ok = (await nanny.closed).ok;
    } else {
      const worker = await Worker.start(options);
      for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void worker.close(`received ${sig}`));
      await worker.closed;
      ok = worker.cleanExit;
    }
    process.exit(ok ? 0 : 1);
  } catch (err) {
    process.stderr.write(`dask-worker-ts: error: ${describeError(err)}\n`);
    process.exit(1);
  }
}

async function locate(file: string | undefined, address: string | undefined, timeoutMs: number): Promise<{ address: string; secret: string }> {
  if (address) {
    const secret = process.env.DASK_MPI_TS_SECRET;
    if (!secret) throw new ConfigError(`connecting to ${address} needs the cluster secret in DASK_MPI_TS_SECRET (or use --scheduler-file)`);
    return { address, secret };
  }
  if (!file) throw new ConfigError("give the scheduler's address or --scheduler-file");
  return waitForSchedulerFile(file, timeoutMs);
}
