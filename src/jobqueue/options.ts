/**
 * Job-queue cluster options: dask-jobqueue's names in camelCase, resolved once into a JobSpec
 * (plain data) from what the program passed, then the configuration section
 * (`jobqueue.<system>.*`), then the defaults. Pure: the caller hands in the configuration and
 * the paths of the Node binary and the worker entry point.
 */
import type { Config } from "../config/schema.js";
import { parseBytes, parseDuration } from "../units.js";
import { ConfigError } from "../errors.js";
import { marginFlag } from "./walltime.js";

export type SystemName = "slurm" | "pbs" | "sge" | "lsf" | "oar" | "htcondor";

/** What every job-queue cluster takes. Unset options come from `jobqueue.<system>.*`, then the defaults. */
export interface JobQueueOptions {
  /** Cores per job (required here or in the configuration). */
  cores?: number;
  /** Memory per job, e.g. "28GB" or bytes (required here or in the configuration). */
  memory?: string | number;
  /** Worker processes per job, cores divided among them; default: Dask's choice (cores <= 4: one per core, else the smallest factor >= sqrt(cores)). */
  processes?: number;
  /** Queue (SLURM partition). */
  queue?: string;
  /** Account charged (SLURM -A, PBS -A; SGE and LSF take it as the project, -P). */
  account?: string;
  /** The same as account (dask-jobqueue's name for SGE and LSF). */
  project?: string;
  /** Walltime per job; default "00:30:00" (LSF "00:30"). */
  walltime?: string;
  /**
   * Workers retire gracefully this long before their job's walltime ends (seconds, or a duration
   * like "2m"), learning the end from the queue system (SLURM, PBS, Grid Engine); `false`: they
   * ignore the walltime. Default: a tenth of the walltime, at least 10 s and at most 5 minutes.
   */
  walltimeMargin?: number | string | false;
  /** Network interface of the workers, and of the scheduler unless schedulerOptions names one. */
  interface?: string;
  /** Extra directive lines, without the prefix (e.g. "--exclusive" becomes "#SBATCH --exclusive"). */
  jobExtraDirectives?: string[];
  /** Generated directive lines containing any of these strings are left out (extra directives stay). */
  jobDirectivesSkip?: string[];
  /** Shell lines before the worker command (module loads, environment). */
  jobScriptPrologue?: string[];
  /** Workers' spill directory on the node, e.g. "$TMPDIR" (not quoted, so the job's shell expands it). */
  localDirectory?: string;
  /** Extra dask-worker-ts arguments, appended as written. */
  workerExtraArgs?: string[];
  /** First line of the job script; default "#!/usr/bin/env bash". */
  shebang?: string;
  /** Prefix of the worker names: a job's worker is NAME-JOBID (NAME-JOBID-i with processes > 1). Default: jobName. */
  name?: string;
  /** The queue's job name; default "dask-worker". */
  jobName?: string;
  /** Seconds (or a duration like "5m") after which workers without their scheduler exit; default 60. */
  deathTimeout?: number | string;
  /** Directory for the jobs' output and error files (created if missing). */
  logDirectory?: string;
  /** The scheduler, which runs in this process: where it listens. */
  schedulerOptions?: { interface?: string; host?: string; port?: number; schedulerFile?: string; /** the scheduler's dashboard, e.g. ":8787" (it shows the pending jobs and why they wait); default none */ dashboardAddress?: string };
  /** Directory the jobs can read (a shared file system), for the scheduler file; default the current directory. */
  sharedTempDirectory?: string;
  /** Supervise each worker with a nanny; default true. */
  nanny?: boolean;
  /** PBS and SGE: the -l resource list (PBS default select=1:ncpus=<cores>:mem=<memory>). */
  resourceSpec?: string;
  /** Pattern finding the job id in the submit command's output: a named group `id`, else the first group. */
  jobIdPattern?: RegExp | string;
  /** Milliseconds (or "5s") between asking the queue about the jobs (squeue, qstat, bjobs); default 5 s. Not in dask-jobqueue. */
  jobStatusInterval?: number | string;
  /** Abstract resources each worker of these jobs offers (dask-worker-ts --resources), e.g. { GPU: 1 }: tasks needing them run there, and adapt() sizes this pool by them. */
  resources?: Record<string, number>;
  /** Submit several jobs at once as one array job (sbatch --array, qsub -t, qsub -J, oarsub --array); default false. Not in dask-jobqueue. */
  jobArray?: boolean;
  /** With jobArray: at most this many tasks of one array run at once (SLURM %K, Grid Engine -tc); default none. */
  jobArrayThrottle?: number;
  /** The most jobs (pending or running, array tasks each) the cluster keeps in the queue at once (a site's cap); default none. */
  maxJobs?: number;
  /** The most jobs the cluster keeps pending in the queue at once; default none. */
  maxQueuedJobs?: number;
}

export interface SLURMOptions extends JobQueueOptions {
  /** --cpus-per-task; default cores. */
  jobCpu?: number;
  /** --mem as SLURM takes it, e.g. "20G"; default memory rendered in SLURM's units. */
  jobMem?: string;
}

export interface LSFOptions extends JobQueueOptions {
  /** #BSUB -n; default cores. */
  ncpus?: number;
  /** #BSUB -M in bytes (or "10GB"); default memory. */
  mem?: number | string;
  /** The cluster's LSF_UNIT_FOR_LIMITS; default read from lsf.conf, else "kb". */
  lsfUnits?: "kb" | "mb" | "gb" | "tb" | "pb" | "eb";
  /** Submit as `bsub < script` (default true) instead of `bsub script`. */
  useStdin?: boolean;
}

/** Every option any system takes (what the resolver reads). */
export type AnyJobQueueOptions = SLURMOptions & LSFOptions;

/** Everything a job script and the cluster need, resolved. */
export interface JobSpec {
  system: SystemName;
  cores: number;
  /** bytes per job */
  memory: number;
  processes: number;
  threadsPerWorker: number;
  /** bytes per worker process */
  memoryPerWorker: number;
  queue: string | null;
  account: string | null;
  walltime: string | null;
  /** the workers' --walltime-margin ("90s", or "none"); null: their default */
  walltimeMargin: string | null;
  interface: string | null;
  jobName: string;
  name: string;
  jobExtraDirectives: string[];
  jobDirectivesSkip: string[];
  jobScriptPrologue: string[];
  localDirectory: string | null;
  workerExtraArgs: string[];
  shebang: string;
  deathTimeoutS: number | null;
  logDirectory: string | null;
  nanny: boolean;
  resourceSpec: string | null;
  jobCpu: number | null;
  jobMem: string | null;
  lsfMem: number | null;
  lsfUnits: string | null;
  useStdin: boolean;
  jobIdPattern: RegExp | null;
  /** the workers' --resources; null: none */
  resources: Record<string, number> | null;
  jobArray: boolean;
  /** array tasks running at once; null: no throttle */
  jobArrayThrottle: number | null;
  /** absolute paths the job runs: the Node binary and the dask-worker-ts entry */
  node: string;
  workerEntry: string;
}

export interface ResolveContext {
  config: Config;
  node: string;
  workerEntry: string;
  /** For messages: "SLURMCluster". */
  className: string;
}

/**
 * Options over the configuration section over the defaults, validated; errors name the option
 * and the bad value.
 * @example resolveJobSpec("slurm", { cores: 8, memory: "28GB" }, ctx).processes // 4
 */
export function resolveJobSpec(system: SystemName, o: AnyJobQueueOptions, ctx: ResolveContext): JobSpec {
  const c = ctx.config.jobqueue[system] as Config["jobqueue"]["slurm"] & Partial<Config["jobqueue"]["lsf"]> & { "resource-spec"?: string | null };
  const cores = o.cores ?? c.cores;
  const memoryGiven = o.memory ?? c.memory;
  if (cores === null || cores === undefined || memoryGiven === null || memoryGiven === undefined) {
    throw new ConfigError(
      `${ctx.className} needs cores and memory per job, e.g. ${ctx.className}.create({ cores: ${cores ?? 8}, memory: "${memoryGiven ?? "24GB"}" }), or jobqueue.${system}.cores and jobqueue.${system}.memory in the configuration`,
    );
  }
  positive(cores, "cores");
  const memory = typeof memoryGiven === "number" ? memoryGiven : parseBytes(memoryGiven, "memory");
  if (!(memory > 0)) throw new ConfigError(`memory must be more than 0 bytes, got ${JSON.stringify(memoryGiven)}`);
  const processes = o.processes ?? c.processes ?? nprocesses(cores);
  positive(processes, "processes");
  if (processes > cores) throw new ConfigError(`processes must be at most cores (${cores}), got ${processes}`);
  if (processes > 1 && o.nanny === false) throw new ConfigError(`processes ${processes} cannot be used with nanny: false: dask-worker-ts refuses --nworkers above 1 with --no-nanny`);
  // a number is seconds, as in dask-jobqueue; the configuration's is parsed to milliseconds
  const deathTimeoutMs =
    o.deathTimeout === undefined ? c["death-timeout"] : typeof o.deathTimeout === "string" ? parseDuration(o.deathTimeout, "deathTimeout") : o.deathTimeout * 1000;
  const lsfMem = o.mem ?? c.mem ?? null;
  return {
    system,
    cores,
    memory,
    processes,
    threadsPerWorker: Math.floor(cores / processes),
    memoryPerWorker: Math.floor(memory / processes),
    queue: o.queue ?? c.queue,
    account: o.account ?? o.project ?? c.account ?? c.project,
    walltime: o.walltime ?? c.walltime,
    walltimeMargin: marginFlag(o.walltimeMargin, system, o.walltime ?? c.walltime),
    interface: o.interface ?? c.interface,
    jobName: o.jobName ?? c.name,
    name: o.name ?? o.jobName ?? c.name,
    jobExtraDirectives: o.jobExtraDirectives ?? c["job-extra-directives"],
    jobDirectivesSkip: o.jobDirectivesSkip ?? c["job-directives-skip"],
    jobScriptPrologue: o.jobScriptPrologue ?? c["job-script-prologue"],
    localDirectory: o.localDirectory ?? c["local-directory"],
    workerExtraArgs: o.workerExtraArgs ?? c["worker-extra-args"],
    shebang: o.shebang ?? c.shebang,
    deathTimeoutS: deathTimeoutMs === null ? null : deathTimeoutMs / 1000,
    logDirectory: o.logDirectory ?? c["log-directory"],
    nanny: o.nanny ?? true,
    resourceSpec: o.resourceSpec ?? c["resource-spec"] ?? null,
    jobCpu: o.jobCpu ?? o.ncpus ?? c["job-cpu"] ?? c.ncpus ?? null,
    jobMem: o.jobMem ?? c["job-mem"] ?? null,
    lsfMem: lsfMem === null ? null : typeof lsfMem === "number" ? lsfMem : parseBytes(lsfMem, "mem"),
    lsfUnits: o.lsfUnits ?? c["lsf-units"] ?? null,
    useStdin: o.useStdin ?? c["use-stdin"] ?? true,
    jobIdPattern: o.jobIdPattern === undefined ? null : jobIdRegExp(o.jobIdPattern),
    resources: o.resources === undefined ? null : resourceMap(o.resources),
    jobArray: o.jobArray ?? false,
    jobArrayThrottle: o.jobArrayThrottle === undefined ? null : (positive(o.jobArrayThrottle, "jobArrayThrottle"), o.jobArrayThrottle),
    node: ctx.node,
    workerEntry: ctx.workerEntry,
  };
}

function positive(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${what} must be a positive integer, got ${JSON.stringify(n)}`);
}

/** Worker resources: names of letters, digits and _ (dask-worker-ts --resources NAME=N,...) to amounts more than 0. */
export function resourceMap(r: Record<string, number>): Record<string, number> {
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new ConfigError(`resources must be an object of names to amounts, e.g. { GPU: 1 }, got ${JSON.stringify(r)}`);
  for (const [k, v] of Object.entries(r)) {
    if (!/^[A-Za-z_][\w-]*$/.test(k)) throw new ConfigError(`resources: a resource name must be letters, digits, _ or -, got ${JSON.stringify(k)}`);
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new ConfigError(`resources.${k} must be a number more than 0, got ${JSON.stringify(v)}`);
  }
  return { ...r };
}

/** A job-id pattern must say where the id is: a named group `id` or a first group. */
export function jobIdRegExp(p: RegExp | string): RegExp {
  let re: RegExp;
  try {
    re = typeof p === "string" ? new RegExp(p, "m") : p;
  } catch (err) {
    throw new ConfigError(`jobIdPattern must be a regular expression, got ${JSON.stringify(String(p))}: ${(err as Error).message}`);
  }
  if (!/\((?!\?:|\?=|\?!|\?<=|\?<!)/.test(re.source)) {
    throw new ConfigError(`jobIdPattern needs a group around the id, e.g. /Submitted batch job (?<id>\\d+)/, got ${re}`);
  }
  return re;
}

/**
 * Dask's split of a job's cores into worker processes: up to 4 cores one process each, else
 * the smallest factor of cores that is at least its square root (threads = cores / processes).
 */
export function nprocesses(cores: number): number {
  if (cores <= 4) return cores;
  for (let f = Math.ceil(Math.sqrt(cores)); f <= cores; f++) if (cores % f === 0) return f;
  return cores;
}

const EXACT_UNITS: Array<[string, number]> = [
  ["TiB", 2 ** 40], ["TB", 1e12], ["GiB", 2 ** 30], ["GB", 1e9], ["MiB", 2 ** 20], ["MB", 1e6], ["KiB", 2 ** 10], ["kB", 1e3],
];

/** Bytes as --memory-limit takes them, exactly: "7GB", "512MiB", or the plain number. */
export function formatBytesExact(n: number): string {
  for (const [unit, size] of EXACT_UNITS) if (n >= size && n % size === 0) return `${n / size}${unit}`;
  return String(n);
}
