/**
 * Job scripts, as text: the shebang, the queue system's directives (minus the skipped ones,
 * plus the extra ones), the prologue, and one `dask-worker-ts` command. Pure.
 *
 * Every job of a cluster runs the same script: a worker is named after the cluster's `name`
 * and the job id the queue system sets in the job's environment (`$SLURM_JOB_ID`, ...), so the
 * cluster can tell whose worker is whose, and `jobScript()` is exactly what is submitted.
 *
 * The job finds the scheduler through the scheduler file (address and secret, mode 0600),
 * which the jobs read from a shared file system: the secret appears in no script, no command
 * line, no job environment and no queue spool, and a script printed by `dask-jobqueue-ts
 * job-script` works as it is against any `dask-scheduler-ts --scheduler-file` at that path.
 */
import type { JobSpec } from "./options.js";
import { formatBytesExact } from "./options.js";
import type { JobSystem } from "./system.js";

/** Where the jobs find the scheduler; `array`: the script of an array job's tasks (each names its workers after its task's id). */
export interface ScriptTarget {
  schedulerFile: string;
  array?: boolean;
}

/**
 * The whole script.
 * @example renderJobScript(slurm, spec, { schedulerFile: "/home/me/sched.json" })
 */
export function renderJobScript(system: JobSystem, spec: JobSpec, target: ScriptTarget): string {
  const skip = spec.jobDirectivesSkip;
  const header = system
    .header(spec)
    .filter((line) => !skip.some((s) => line.includes(s)))
    // a system without directives (HTCondor) takes the extra ones in its submit description
    .concat(system.directive === "" ? [] : spec.jobExtraDirectives.map((d) => `${system.directive} ${d}`));
  return [spec.shebang, "", ...header, ...spec.jobScriptPrologue, workerCommand(system, spec, target)].join("\n") + "\n";
}

/** The `dask-worker-ts` command line of a job (dask-jobqueue's argument order). */
export function workerCommand(system: JobSystem, spec: JobSpec, target: ScriptTarget): string {
  const args = [
    shellQuote(spec.node),
    shellQuote(spec.workerEntry),
    "--scheduler-file", shellQuote(target.schedulerFile),
    "--nthreads", String(spec.threadsPerWorker),
    ...(spec.processes > 1 ? ["--nworkers", String(spec.processes)] : []),
    "--memory-limit", formatBytesExact(spec.memoryPerWorker),
    // the job id is expanded by the job's shell; an array task's as the queue lists it
    "--name", `${shellQuote(spec.name)}-${target.array ? system.arrayTaskIdExpr! : `$${system.jobIdVar}`}`,
    spec.nanny ? "--nanny" : "--no-nanny",
    ...(spec.deathTimeoutS === null ? [] : ["--death-timeout", String(spec.deathTimeoutS)]),
    ...(spec.walltimeMargin === null ? [] : ["--walltime-margin", spec.walltimeMargin]),
    // as written, like the prologue: "$TMPDIR" must reach the job's shell unquoted
    ...(spec.localDirectory === null ? [] : ["--local-directory", spec.localDirectory]),
    ...(spec.resources === null ? [] : ["--resources", shellQuote(Object.entries(spec.resources).map(([k, v]) => `${k}=${v}`).join(","))]),
    ...spec.workerExtraArgs,
    ...(spec.interface === null ? [] : ["--interface", shellQuote(spec.interface)]),
  ];
  return args.join(" ");
}

/** A word for a POSIX shell: as it is when it is safe, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
