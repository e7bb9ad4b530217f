/**
 * `dask-jobqueue-ts job-script SYSTEM [options]`: print the job script a job-queue cluster
 * would submit, for users who submit by hand (the jobs then join any scheduler that writes
 * the --scheduler-file, e.g. `dask-scheduler-ts --scheduler-file FILE`). Unset options come
 * from the configuration (`jobqueue.SYSTEM.*`).
 */
import path from "node:path";
import { ConfigError, describeError } from "../errors.js";
import { askWhyPending } from "../deploy/client-script.js";
import { jobScriptFor } from "../jobqueue/cluster.js";
import { htcondor } from "../jobqueue/htcondor.js";
import { oar } from "../jobqueue/oar.js";
import { lsf } from "../jobqueue/lsf.js";
import type { AnyJobQueueOptions } from "../jobqueue/options.js";
import { pbs } from "../jobqueue/pbs.js";
import { sge } from "../jobqueue/sge.js";
import { slurm } from "../jobqueue/slurm.js";
import type { JobSystem } from "../jobqueue/system.js";
import { type FlagSpec, helpText, parseFlags, positiveInt } from "./args.js";

const SYSTEMS: Record<string, JobSystem> = { slurm, pbs, sge, lsf, oar, htcondor };

/** Flags that may repeat, one list item each. */
const LISTS = {
  "job-extra-directives": "jobExtraDirectives",
  "job-directives-skip": "jobDirectivesSkip",
  "job-script-prologue": "jobScriptPrologue",
  "worker-extra-args": "workerExtraArgs",
} as const;

const FLAGS: FlagSpec[] = [
  { name: "cores", type: "string", valueName: "N", help: "cores per job", config: "jobqueue.SYSTEM.cores" },
  { name: "memory", type: "string", valueName: "SIZE", help: "memory per job, e.g. 28GB", config: "jobqueue.SYSTEM.memory" },
  { name: "processes", type: "string", valueName: "N", help: "worker processes per job", config: "jobqueue.SYSTEM.processes" },
  { name: "queue", type: "string", valueName: "NAME", help: "queue (partition)", config: "jobqueue.SYSTEM.queue" },
  { name: "account", type: "string", valueName: "NAME", help: "account or project charged", config: "jobqueue.SYSTEM.account" },
  { name: "walltime", type: "string", valueName: "TIME", help: "walltime per job", config: "jobqueue.SYSTEM.walltime" },
  { name: "interface", type: "string", valueName: "NAME", help: "network interface of the workers", config: "jobqueue.SYSTEM.interface" },
  { name: "local-directory", type: "string", valueName: "DIR", help: "workers' spill directory on the node", config: "jobqueue.SYSTEM.local-directory" },
  { name: "shebang", type: "string", valueName: "LINE", help: "first line of the script", config: "jobqueue.SYSTEM.shebang" },
  { name: "name", type: "string", valueName: "NAME", help: "prefix of the worker names (default: the job name)" },
  { name: "job-name", type: "string", valueName: "NAME", help: "the queue's job name", config: "jobqueue.SYSTEM.name" },
  { name: "death-timeout", type: "string", valueName: "DURATION", help: "workers without their scheduler this long exit", config: "jobqueue.SYSTEM.death-timeout" },
  { name: "log-directory", type: "string", valueName: "DIR", help: "directory of the jobs' output files", config: "jobqueue.SYSTEM.log-directory" },
  { name: "resource-spec", type: "string", valueName: "SPEC", help: "PBS/SGE -l resource list", config: "jobqueue.SYSTEM.resource-spec" },
  { name: "job-cpu", type: "string", valueName: "N", help: "SLURM --cpus-per-task / LSF -n (default: cores)" },
  { name: "job-mem", type: "string", valueName: "MEM", help: "SLURM --mem as SLURM takes it (default: memory)" },
  { name: "job-extra-directives", type: "string", valueName: "DIRECTIVE", help: "an extra directive (repeatable)", config: "jobqueue.SYSTEM.job-extra-directives" },
  { name: "job-directives-skip", type: "string", valueName: "TEXT", help: "leave out generated directives containing TEXT (repeatable)", config: "jobqueue.SYSTEM.job-directives-skip" },
  { name: "job-script-prologue", type: "string", valueName: "LINE", help: "a shell line before the worker command (repeatable)", config: "jobqueue.SYSTEM.job-script-prologue" },
  { name: "worker-extra-args", type: "string", valueName: "ARG", help: "an extra dask-worker-ts argument (repeatable)", config: "jobqueue.SYSTEM.worker-extra-args" },
  { name: "nanny", type: "boolean", default: true, help: "supervise each worker with a nanny" },
  { name: "scheduler-file", type: "string", valueName: "FILE", default: "scheduler.json", help: "the scheduler file the jobs read (made absolute)" },
  { name: "help", type: "boolean", help: "show this help and exit" },
];

const USAGE = `dask-jobqueue-ts job-script (${Object.keys(SYSTEMS).join("|")}) [options]\n       dask-jobqueue-ts why [KEY] --scheduler-file FILE`;
const DESCRIPTION = "Print the job script of a job-queue cluster of dask-mpi-ts workers; or why a task (or the pending work) does not run: the scheduler's reasons and the queue's.";

export async function main(argv = process.argv.slice(2)): Promise<void> {
  try {
    const { rest, lists } = takeLists(argv);
    const { flags, positionals } = parseFlags(rest, FLAGS, { stopAtPositional: false });
    if (flags.help || positionals.length === 0) {
      process.stdout.write(helpText(USAGE, DESCRIPTION, FLAGS));
      if (!flags.help) process.exitCode = 2;
      return;
    }
    const [command, name, extra] = positionals;
    if (command === "why") {
      if (extra !== undefined) throw new ConfigError(`unexpected argument ${JSON.stringify(extra)}`);
      const answer = await askWhyPending(path.resolve(flags["scheduler-file"] as string), name);
      process.stdout.write(`${answer.key === undefined ? "pending work" : `task ${answer.key}`}: ${answer.state}\n${answer.answer.map((l) => `  ${l}`).join("\n")}\n`);
      return;
    }
    if (command !== "job-script") throw new ConfigError(`unknown command ${JSON.stringify(command)}; the commands are job-script and why`);
    const system = SYSTEMS[name ?? ""];
    if (!system) throw new ConfigError(`job-script needs a queue system, one of ${Object.keys(SYSTEMS).join(", ")}, got ${JSON.stringify(name ?? "")}`);
    if (extra !== undefined) throw new ConfigError(`unexpected argument ${JSON.stringify(extra)}`);
    const s = (k: string) => flags[k] as string | undefined;
    const options: AnyJobQueueOptions = {
      cores: positiveInt(flags.cores, "cores"),
      memory: s("memory"),
      processes: positiveInt(flags.processes, "processes"),
      queue: s("queue"),
      account: s("account"),
      walltime: s("walltime"),
      interface: s("interface"),
      localDirectory: s("local-directory"),
      shebang: s("shebang"),
      name: s("name"),
      jobName: s("job-name"),
      deathTimeout: s("death-timeout"),
      logDirectory: s("log-directory"),
      resourceSpec: s("resource-spec"),
      jobCpu: positiveInt(flags["job-cpu"], "job-cpu"),
      jobMem: s("job-mem"),
      nanny: flags.nanny as boolean,
      ...lists,
    };
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as AnyJobQueueOptions;
    process.stdout.write(await jobScriptFor(system, defined, path.resolve(s("scheduler-file")!)));
  } catch (err) {
    process.stderr.write(`dask-jobqueue-ts: error: ${describeError(err)}\n`);
    process.exitCode = 1;
  }
}

/** The repeatable list flags, out of argv (the flag parser keeps one value per flag). */
function takeLists(argv: string[]): { rest: string[]; lists: Partial<Record<(typeof LISTS)[keyof typeof LISTS], string[]>> } {
  const rest: string[] = [];
  const lists: Partial<Record<(typeof LISTS)[keyof typeof LISTS], string[]>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const flag = (eq >= 0 ? arg.slice(0, eq) : arg).replace(/^--/, "");
    const key = arg.startsWith("--") ? LISTS[flag as keyof typeof LISTS] : undefined;
    if (!key) {
      rest.push(arg);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`flag --${flag} needs a value`);
    (lists[key] ??= []).push(value);
  }
  return { rest, lists };
}
