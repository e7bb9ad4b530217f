/**
 * `dask-worker-ts`: standalone workers joining a scheduler by address or scheduler file (the
 * qsub/sbatch array-job pattern: start them in any order, before or after the scheduler).
 * Settings not given as flags come from the configuration (see `dask-mpi-ts config`).
 */
import { runWorkers } from "../deploy/standalone.js";
import { ConfigError, describeError } from "../errors.js";
import { LOG_LEVELS } from "../log.js";
import type { WorkerOptions } from "../worker/options.js";
import { type FlagSpec, helpText, logFormat, logLevel, parseFlags, positiveInt } from "./args.js";
import { WORKER_FLAGS, workerGiven } from "./worker-flags.js";
import { TLS_FLAGS, tlsGiven } from "./tls-flags.js";
import { parseAddress } from "../comm/address.js";
import { retirementTime } from "../jobqueue/job-end.js";
import { parseMarginFlag } from "../jobqueue/walltime.js";

const FLAGS: FlagSpec[] = [
  { name: "scheduler-file", type: "string", valueName: "FILE", help: "find the scheduler (address and secret) in this file" },
  { name: "name", type: "string", valueName: "NAME", help: "worker name (default: its address; with --nworkers, NAME-0, NAME-1, ...)" },
  { name: "nworkers", type: "string", valueName: "N", help: "worker processes this command runs, each with its nanny (default 1; only 1 with --no-nanny)" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface to bind and advertise" },
  { name: "host", type: "string", valueName: "HOST", help: "address to bind and advertise" },
  { name: "listen-address", type: "string", valueName: "ADDR", help: "bind here instead, e.g. tcp://0.0.0.0:9000 (one worker only when a port is given)" },
  { name: "contact-address", type: "string", valueName: "ADDR", help: "advertise this address to the scheduler and peers (NAT, port forwarding)" },
  ...WORKER_FLAGS,
  {
    name: "walltime-margin", type: "string", valueName: "DURATION", default: "auto",
    help: "inside a SLURM, PBS or Grid Engine job, retire gracefully this long before the job's walltime ends (auto: a tenth of the walltime, 10s to 5m; none: ignore the walltime)",
  },
  ...TLS_FLAGS,
  { name: "nanny", type: "boolean", default: true, help: "supervise the worker in a child process (--no-nanny never forks)" },
  { name: "log-level", type: "string", valueName: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, config: "logging.level" },
  { name: "log-format", type: "string", valueName: "FORMAT", help: "json (default when stderr is not a terminal) or pretty", config: "logging.format" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

const USAGE = "dask-worker-ts [options] (--scheduler-file FILE | tcp://host:port)";
const DESCRIPTION = [
  "Run a dask-mpi-ts worker. The secret comes from the scheduler file or DASK_MPI_TS_SECRET.",
  "A flag overrides the configuration key in [brackets] (see `dask-mpi-ts config`).",
].join("\n");

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let status: number;
  try {
    const { flags, positionals } = parseFlags(argv, FLAGS, { stopAtPositional: false });
    if (flags.help) {
      process.stdout.write(helpText(USAGE, DESCRIPTION, FLAGS));
      return;
    }
    const given = workerGiven(flags);
    const nworkers = positiveInt(flags.nworkers, "nworkers") ?? 1;
    if (nworkers > 1 && !flags.nanny) {
      // as Dask: workers in one process would share its memory, its restarts and its exit
      throw new ConfigError(
        `--nworkers ${nworkers} cannot be used with --no-nanny: without nannies all the workers would run in this one process, and each would measure the whole process's memory against its own limit; drop --no-nanny (each worker gets its own process), or start one dask-worker-ts --no-nanny per worker`,
      );
    }
    const listen = flags["listen-address"] as string | undefined;
    const contact = flags["contact-address"] as string | undefined;
    const margin = flags["walltime-margin"] as string;
    parseMarginFlag(margin); // a bad value fails now, before any worker starts
    if (listen) parseAddress(listen);
    if (contact) parseAddress(contact);
    if (nworkers > 1 && (contact || (listen && parseAddress(listen).port !== 0))) {
      throw new ConfigError(`--nworkers ${nworkers} cannot share one ${contact ? "--contact-address" : "--listen-address port"}: start one command per worker`);
    }
    status = await runWorkers({
      ...target(flags["scheduler-file"] as string | undefined, positionals),
      interface: flags.interface as string | undefined,
      host: flags.host as string | undefined,
      listenAddress: listen,
      contactAddress: contact,
      tls: tlsGiven(flags),
      given,
      name: flags.name as string | undefined,
      nworkers,
      nanny: flags.nanny as boolean,
      retirement: () => retirementTime(margin),
      logLevel: logLevel(flags["log-level"]),
      logFormat: logFormat(flags["log-format"]),
    });
  } catch (err) {
    process.stderr.write(`dask-worker-ts: error: ${describeError(err)}\n`);
    process.exit(1);
  }
  process.exit(status);
}

/** The scheduler to join: an address (the secret from DASK_MPI_TS_SECRET) or a scheduler file. */
function target(file: string | undefined, positionals: string[]): Pick<WorkerOptions, "schedulerAddress" | "secret" | "schedulerFile"> {
  if (positionals.length > 1) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const address = positionals[0];
  if (address && file) throw new ConfigError("give the scheduler's address or --scheduler-file, not both");
  if (file) return { schedulerFile: file };
  if (!address) throw new ConfigError("give the scheduler's address or --scheduler-file");
  parseAddress(address);
  const secret = process.env.DASK_MPI_TS_SECRET;
  if (!secret) throw new ConfigError(`connecting to ${address} needs the cluster secret in DASK_MPI_TS_SECRET (or use --scheduler-file)`);
  return { schedulerAddress: address, secret };
}
