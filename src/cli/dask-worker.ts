/**
 * `dask-worker-ts`: a standalone worker joining a scheduler by address or scheduler file
 * (minimal here; --nworkers, lifetimes and the rest come with the deployment issue).
 */
import { parseDuration, parseMemoryLimit } from "../config/units.js";
import { ConfigError, describeError } from "../errors.js";
import { configureLogger, LOG_LEVELS } from "../log.js";
import { Nanny } from "../nanny/nanny.js";
import { waitForSchedulerFile } from "../scheduler/scheduler-file.js";
import { Worker, type WorkerOptions } from "../worker/worker.js";
import { type FlagSpec, fraction, helpText, logLevel, parseFlags, positiveInt, resources } from "./args.js";

const FLAGS: FlagSpec[] = [
  { name: "scheduler-file", type: "string", valueName: "FILE", help: "find the scheduler (address and secret) in this file" },
  { name: "nthreads", type: "string", valueName: "N", help: "task threads", default: "1" },
  { name: "memory-limit", type: "string", valueName: "LIMIT", help: "10GB, 10GiB, 0.25 of the node, auto, or 0/none", default: "auto" },
  { name: "name", type: "string", valueName: "NAME", help: "worker name (default: its address)" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface to bind and advertise" },
  { name: "memory-target", type: "string", valueName: "FRACTION", help: "spill least-recently-used results to disk above this fraction of the memory limit, or false", default: "0.6" },
  { name: "memory-spill", type: "string", valueName: "FRACTION", help: "spill by measured process memory above this fraction, or false", default: "0.7" },
  { name: "local-directory", type: "string", valueName: "DIR", help: "where spilled results go (a subdirectory per worker; default: the temp directory)" },
  { name: "memory-pause", type: "string", valueName: "FRACTION", help: "pause above this fraction of the memory limit, or false", default: "0.8" },
  { name: "memory-terminate", type: "string", valueName: "FRACTION", help: "the nanny restarts the worker above this fraction, or false", default: "0.95" },
  { name: "lifetime", type: "string", valueName: "DURATION", help: "retire gracefully after this long (e.g. 30m): no new tasks, results move to other workers" },
  { name: "lifetime-stagger", type: "string", valueName: "DURATION", help: "random +/- spread of --lifetime, so workers do not all leave at once", default: "0s" },
  { name: "lifetime-restart", type: "boolean", help: "after retiring, start a fresh worker (needs the nanny)" },
  { name: "resources", type: "string", valueName: "SPEC", help: 'abstract resources this worker offers, e.g. "GPU=2,MEM=1e9"' },
  { name: "nanny", type: "boolean", default: true, help: "supervise the worker in a child process (--no-nanny never forks)" },
  { name: "death-timeout", type: "string", valueName: "DURATION", help: "exit after this long without a scheduler", default: "60s" },
  { name: "log-level", type: "string", valueName: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, default: "info" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

const USAGE = "dask-worker-ts [options] (--scheduler-file FILE | tcp://host:port)";

export async function main(argv = process.argv.slice(2)): Promise<void> {
  try {
    const { flags, positionals } = parseFlags(argv, FLAGS, { stopAtPositional: false });
    if (flags.help) {
      process.stdout.write(helpText(USAGE, "Run a dask-mpi-ts worker. The secret comes from the scheduler file or DASK_MPI_TS_SECRET.", FLAGS));
      return;
    }
    configureLogger({ role: "worker", level: logLevel(flags["log-level"]) });
    const deathTimeoutMs = parseDuration(flags["death-timeout"] as string, "--death-timeout");
    const { address, secret } = await locate(flags["scheduler-file"] as string | undefined, positionals[0], deathTimeoutMs);
    const options: WorkerOptions = {
      schedulerAddress: address,
      secret,
      name: flags.name as string | undefined,
      nthreads: positiveInt(flags.nthreads, "nthreads"),
      memoryLimit: parseMemoryLimit(flags["memory-limit"] as string),
      interface: flags.interface as string | undefined,
      resources: resources(flags.resources),
      memory: {
        target: fraction(flags["memory-target"], "memory-target"),
        spill: fraction(flags["memory-spill"], "memory-spill"),
        pause: fraction(flags["memory-pause"], "memory-pause"),
        terminate: fraction(flags["memory-terminate"], "memory-terminate"),
      },
      localDirectory: flags["local-directory"] as string | undefined,
      lifetimeMs: flags.lifetime === undefined ? undefined : parseDuration(flags.lifetime as string, "--lifetime"),
      lifetimeStaggerMs: parseDuration(flags["lifetime-stagger"] as string, "--lifetime-stagger"),
      deathTimeoutMs,
    };
    let ok: boolean;
    if (flags.nanny) {
      const nanny = await Nanny.start({ worker: options, restartAfterRetire: flags["lifetime-restart"] === true });
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
