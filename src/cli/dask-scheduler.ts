/**
 * `dask-scheduler-ts`: a standalone scheduler that workers and clients find through a shared
 * scheduler file (for qsub/sbatch deployments without MPI). Exits 0 on SIGINT/SIGTERM (or
 * after distributed.scheduler.idle-timeout) after closing its workers and removing the file.
 */
import { runScheduler } from "../deploy/standalone.js";
import { ConfigError, describeError } from "../errors.js";
import { LOG_LEVELS } from "../log.js";
import { type FlagSpec, helpText, logFormat, logLevel, parseFlags, portNumber } from "./args.js";
import { TLS_FLAGS, tlsGiven } from "./tls-flags.js";
import { parseDuration } from "../units.js";

const FLAGS: FlagSpec[] = [
  { name: "scheduler-file", type: "string", valueName: "FILE", help: "write the address and secret here (mode 0600) for workers and clients" },
  { name: "port", type: "string", valueName: "PORT", help: "port to listen on (default: random)" },
  { name: "host", type: "string", valueName: "HOST", help: "address to bind and advertise" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface to bind and advertise, e.g. ib0" },
  { name: "idle-timeout", type: "string", valueName: "DURATION", help: "shut down after this long with no task to run (e.g. 1h)", config: "distributed.scheduler.idle-timeout" },
  { name: "journal", type: "string", valueName: "DIR", help: "journal the scheduler's durable facts in DIR (shared file system); a scheduler started on it takes over", config: "distributed.scheduler.journal.directory" },
  { name: "checkpoint", type: "boolean", help: "with --journal: also write every result to DIR's checkpoints", config: "distributed.scheduler.journal.checkpoint" },
  { name: "dashboard-address", type: "string", valueName: "ADDR", default: ":8787", help: "where the dashboard listens: :8787 (default), host:port; a taken port falls back to a free one" },
  { name: "dashboard", type: "boolean", default: true, help: "serve the dashboard (--no-dashboard: nothing listens but the scheduler)" },
  ...TLS_FLAGS,
  { name: "log-level", type: "string", valueName: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, config: "logging.level" },
  { name: "log-format", type: "string", valueName: "FORMAT", help: "json (default when stderr is not a terminal) or pretty", config: "logging.format" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let status: number;
  try {
    const { flags, positionals } = parseFlags(argv, FLAGS, { stopAtPositional: false });
    if (flags.help) {
      const description = "Run a dask-mpi-ts scheduler. A flag overrides the configuration key in [brackets] (see `dask-mpi-ts config`).";
      process.stdout.write(helpText("dask-scheduler-ts [options]", description, FLAGS));
      return;
    }
    if (positionals.length) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    status = await runScheduler({
      port: portNumber(flags.port, "port"),
      idleTimeoutMs: flags["idle-timeout"] === undefined ? undefined : parseDuration(flags["idle-timeout"] as string, "--idle-timeout"),
      dashboardAddress: flags.dashboard ? (flags["dashboard-address"] as string) : undefined,
      tls: tlsGiven(flags),
      host: flags.host as string | undefined,
      interface: flags.interface as string | undefined,
      schedulerFile: flags["scheduler-file"] as string | undefined,
      journal: flags.journal as string | undefined,
      checkpoint: flags.checkpoint as boolean | undefined,
      logLevel: logLevel(flags["log-level"]),
      logFormat: logFormat(flags["log-format"]),
    });
  } catch (err) {
    process.stderr.write(`dask-scheduler-ts: error: ${describeError(err)}\n`);
    process.exit(1);
  }
  process.exit(status);
}
