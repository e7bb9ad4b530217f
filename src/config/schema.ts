/**
 * The one schema of dask-mpi-ts's configuration (DESIGN.md section 6). Keys mirror Dask's
 * `distributed.yaml` where they mean the same thing and are spelled with hyphens; every key has
 * a default, a description and a phrase saying what it expects (used in error messages).
 *
 * Parsing normalizes: durations become milliseconds, sizes become bytes. The input (raw) form
 * is what users write: `"30s"`, `5` (seconds), `"10GiB"`, `false`.
 */
import * as z from "zod";
import { ConfigError } from "../errors.js";
import { parseBytes, parseDuration, parseMemoryLimit } from "../units.js";

/** Turns a units.ts parser into a zod transform; its error becomes a zod issue. */
function via<T>(parse: (text: string) => T) {
  return (text: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message, input: text });
      return z.NEVER;
    }
  };
}

const DURATION = "a duration like 30s, 5m or 100ms, or a number of seconds";
const SIZE = "a size like 10GB, 512MiB or a number of bytes";

/** `"30s"` -> 30000; a number is seconds (as in Dask). Output: milliseconds. */
const duration = z.union([
  z.number().nonnegative().transform((s) => s * 1000),
  z.string().transform(via((t) => parseDuration(t))),
]);
/** `"10GiB"` -> 10737418240; a number is bytes. Output: bytes. */
const size = z.union([z.number().int().nonnegative(), z.string().transform(via((t) => parseBytes(t)))]);
const fraction = z.union([z.number().gt(0).lte(1), z.literal(false)]);
const FRACTION = "a fraction between 0 and 1 or false";
const positiveInt = z.number().int().positive();
const count = z.number().int().nonnegative();
const nonEmpty = z.string().min(1);
const strings = z.array(z.string());

/**
 * A per-worker memory limit as the `--memory-limit` flag takes it. Output: the text for
 * `parseMemoryLimit(text, { workersOnNode })`; `"auto"` and fractions need the node, so they
 * are resolved by the worker launcher, not here. `false`, `null` and `0` mean no limit.
 */
const memoryLimit = z.union([z.number().nonnegative(), z.string(), z.literal(false), z.null()]).transform((v, ctx) => {
  const text = v === false || v === null ? "none" : String(v).trim();
  via((t) => parseMemoryLimit(t, { totalBytes: Infinity }))(text, ctx);
  return text;
});

/** One configuration key: its type, default (as a user would write it), what it expects, what it does. */
function key<T extends z.ZodType>(type: T, dflt: z.input<T>, expects: string, description: string) {
  return type.prefault(dflt).meta({ description, expects });
}

/** A nested group of keys; unknown keys are errors, missing ones take their defaults. */
function section<S extends z.ZodRawShape>(shape: S) {
  // `{}` is valid input (every key has a prefault); TS cannot see that through the generic S
  return z.strictObject(shape).prefault({} as never);
}

/**
 * One job-queue system's section: dask-jobqueue's keys (jobqueue.yaml) where they mean the
 * same, hyphenated. `extra` holds the keys only that system has.
 */
function jobqueue<S extends z.ZodRawShape>(system: string, directive: string, walltime: string, extra: S) {
  return section({
    name: key(nonEmpty, "dask-worker", "a non-empty string", `${system} job name`),
    cores: key(positiveInt.nullable(), null, "a positive integer or null", "cores per job"),
    memory: key(size.nullable(), null, `${SIZE}, or null`, "memory per job (bytes in the parsed config)"),
    processes: key(positiveInt.nullable(), null, "a positive integer or null", "worker processes per job (cores are divided among them); null = about the square root of cores"),
    queue: key(nonEmpty.nullable(), null, "a queue name or null", `${system} queue (partition) to submit to`),
    account: key(nonEmpty.nullable(), null, "an account name or null", "account (project) charged for the job"),
    project: key(nonEmpty.nullable(), null, "a project name or null", "project charged for the job (the same as account)"),
    walltime: key(
      z.string().regex(/^(\d+-)?\d+(:\d{1,2}){0,2}$/).nullable(),
      walltime,
      'a walltime like "01:30:00" or "2-00:00:00", or null',
      "job walltime",
    ),
    interface: key(nonEmpty.nullable(), null, "a network interface name or null", "network interface workers listen on (e.g. ib0)"),
    "death-timeout": key(duration.nullable(), "60s", `${DURATION}, or null`, "a job's workers exit after this long without their scheduler (the cluster's process)"),
    "local-directory": key(nonEmpty.nullable(), null, "a directory path or null", "node-local directory the workers spill to, e.g. $TMPDIR"),
    "shared-temp-directory": key(nonEmpty.nullable(), null, "a directory path or null", "directory on a file system the jobs see, for the scheduler file; null = the current directory"),
    "worker-extra-args": key(strings, [], "a list of strings", "extra dask-worker-ts arguments"),
    shebang: key(nonEmpty, "#!/usr/bin/env bash", "a non-empty string", "first line of the job script"),
    "job-extra-directives": key(strings, [], "a list of strings", `extra ${directive} lines in the job script`),
    "job-directives-skip": key(strings, [], "a list of strings", `generated ${directive} lines containing any of these are left out`),
    "job-script-prologue": key(strings, [], "a list of strings", "shell lines run before the workers start"),
    "log-directory": key(nonEmpty.nullable(), null, "a directory path or null", "where the job's output and error files go"),
    "scheduler-options": section({
      interface: key(nonEmpty.nullable(), null, "a network interface name or null", "interface the scheduler listens on (default: the workers' interface)"),
      host: key(nonEmpty.nullable(), null, "a host name or address, or null", "address the scheduler listens on and advertises"),
      port: key(count, 0, "a port number (0 = any free port)", "port the scheduler listens on"),
    }),
    ...extra,
  });
}

/** The whole configuration. `configSchema.parse({})` gives every default, normalized. */
export const configSchema = z.strictObject({
  distributed: section({
    worker: section({
      nthreads: key(positiveInt, 1, "a positive integer", "task threads per worker"),
      "memory-limit": key(
        memoryLimit,
        "auto",
        'a size like 10GB, a fraction of node memory like 0.25, "auto", or 0 for no limit',
        "memory limit per worker; auto = node memory divided among the worker processes on the node",
      ),
      "local-directory": key(
        nonEmpty.nullable(),
        null,
        "a directory path or null",
        "where workers spill; null = a node-local temporary directory, one subdirectory per worker",
      ),
      resources: key(
        z.record(z.string(), z.number().nonnegative()),
        {},
        "a mapping of resource names to non-negative numbers",
        "abstract resources this worker offers to tasks, e.g. {GPU: 1}",
      ),
      lifetime: section({
        duration: key(duration.nullable(), null, `${DURATION}, or null`, "retire the worker gracefully after this long; null = never"),
        stagger: key(duration, "0s", DURATION, "random +/- spread of the lifetime, so workers do not all retire at once"),
        restart: key(z.boolean(), false, "true or false", "start a fresh worker after retiring for lifetime"),
      }),
      memory: section({
        target: key(fraction, 0.6, FRACTION, "above this fraction of the memory limit, spill least-recently-used results to disk"),
        spill: key(fraction, 0.7, FRACTION, "above this fraction of the memory limit by process memory (RSS), spill to disk"),
        pause: key(fraction, 0.8, FRACTION, "above this fraction of the memory limit, start no new tasks"),
        terminate: key(fraction, 0.95, FRACTION, "above this fraction of the memory limit, the nanny restarts the worker"),
        "monitor-interval": key(duration, "100ms", DURATION, "how often worker memory is measured near a threshold (up to 10 times less often far below them)"),
        "max-spill": key(z.union([z.literal(false), size]), false, `false or ${SIZE}`, "stop spilling once this much is on disk; false = no cap"),
      }),
    }),
    nanny: section({
      "max-restarts": key(count, 5, "a non-negative integer", "restarts within restart-window after which the nanny gives up: its worker leaves the cluster (an MPI rank stays in the job, idle)"),
      "restart-window": key(duration, "60s", DURATION, "window over which max-restarts is counted"),
    }),
    scheduler: section({
      "allowed-failures": key(count, 3, "a non-negative integer", "workers a task may take down with it before it errs with KilledWorkerError"),
      "worker-ttl": key(duration.nullable(), "30s", `${DURATION}, or null`, "remove a worker not heard from for this long; null = never"),
      "idle-timeout": key(duration.nullable(), null, `${DURATION}, or null`, "shut the scheduler down after this long with no work; null = never"),
      journal: section({
        directory: key(nonEmpty.nullable(), null, "a directory path or null", "journal the scheduler's durable facts here (on a shared file system); a scheduler started on it takes over; null = no journal"),
        checkpoint: key(z.boolean(), false, "true or false", "also write every result to the journal's checkpoints (default: only tasks submitted with checkpoint)"),
        "take-over-grace": key(duration, "10s", DURATION, "how long a scheduler taking over waits for the old one's workers to re-register"),
        lease: key(duration, "10s", DURATION, "the journal lock's lease: a lock not renewed for this long is stale"),
        "client-timeout": key(duration, "60s", DURATION, "a client of the journal not back this long after a take-over is removed"),
        "sync-interval": key(duration, "20ms", DURATION, "records are written and synced in groups this often: a graph is acknowledged (and a client stops keeping it) once synced"),
      }),
    }),
    comm: section({
      timeouts: section({
        connect: key(duration, "30s", DURATION, "give up connecting to a peer after this long"),
      }),
      "max-frame-size": key(size, "512MiB", SIZE, "largest frame accepted from a peer (bytes in the parsed config)"),
      "handshake-timeout": key(duration, "5s", DURATION, "a peer must finish the handshake within this long"),
    }),
    deploy: section({
      "death-timeout": key(duration.nullable(), "60s", `${DURATION}, or null`, "a worker exits after this long without reaching the scheduler; null = never"),
    }),
  }),
  logging: section({
    level: key(z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]), "info",
      'one of "trace", "debug", "info", "warn", "error", "fatal", "silent"', "lowest level written to stderr"),
    format: key(z.enum(["json", "pretty"]), "json", '"json" or "pretty"', "json lines, or human-readable lines"),
  }),
  jobqueue: section({
    slurm: jobqueue("slurm", "#SBATCH", "00:30:00", {
      "job-cpu": key(positiveInt.nullable(), null, "a positive integer or null", "--cpus-per-task of each job; null = cores"),
      "job-mem": key(nonEmpty.nullable(), null, 'a SLURM memory like "20G", or null', "--mem of each job; null = memory"),
    }),
    pbs: jobqueue("pbs", "#PBS", "00:30:00", {
      "resource-spec": key(nonEmpty.nullable(), null, "a resource list or null", "#PBS -l of each job; null = select=1:ncpus=<cores>:mem=<memory>"),
    }),
    sge: jobqueue("sge", "#$", "00:30:00", {
      "resource-spec": key(nonEmpty.nullable(), null, "a resource list or null", "#$ -l of each job, e.g. h_vmem=10G"),
    }),
    lsf: jobqueue("lsf", "#BSUB", "00:30", {
      ncpus: key(positiveInt.nullable(), null, "a positive integer or null", "#BSUB -n of each job; null = cores"),
      mem: key(size.nullable(), null, `${SIZE}, or null`, "#BSUB -M of each job; null = memory"),
      "lsf-units": key(z.enum(["kb", "mb", "gb", "tb", "pb", "eb"]).nullable(), null, 'one of "kb", "mb", "gb", "tb", "pb", "eb", or null', "LSF_UNIT_FOR_LIMITS of the cluster; null = read from lsf.conf, else kb"),
      "use-stdin": key(z.boolean(), true, "true or false", "submit with bsub < script instead of bsub script"),
    }),
    oar: jobqueue("oar", "#OAR", "00:30:00", {
      "resource-spec": key(nonEmpty.nullable(), null, "a resource request or null", "#OAR -l of each job without its walltime; null = /nodes=1/core=<cores>"),
    }),
    htcondor: jobqueue("htcondor", "", "00:30:00", {
      disk: key(size.nullable(), null, `${SIZE}, or null`, "request_disk of each job; null = none"),
    }),
  }),
});

/** The configuration as users write it (every key optional). */
export type RawConfig = z.input<typeof configSchema>;
/** The validated configuration: durations in milliseconds, sizes in bytes, every key present. */
export type Config = z.output<typeof configSchema>;

/** One leaf of the schema, for listings and error messages. */
export interface ConfigKey {
  /** Dotted, hyphenated: `"distributed.worker.memory.target"`. */
  path: string;
  /** As a user would write it: `"100ms"`, `0.6`, `null`. */
  default: unknown;
  description: string;
  /** Completes "<key> must be ...": `"a fraction between 0 and 1 or false"`. */
  expects: string;
}

/** Sections and leaves by dotted path (`""` is the root); children by parent path. */
export interface KeyTree {
  leaves: Map<string, ConfigKey>;
  sections: Map<string, string[]>;
}

let tree: KeyTree | undefined;

/**
 * Every key of the schema, walked once and cached.
 * @example configKeys().leaves.get("distributed.worker.nthreads")?.default // 1
 */
export function configKeys(): KeyTree {
  if (tree) return tree;
  const t: KeyTree = { leaves: new Map(), sections: new Map() };
  const walk = (shape: z.ZodRawShape, prefix: string): void => {
    t.sections.set(prefix, Object.keys(shape));
    for (const [name, s] of Object.entries(shape) as [string, z.ZodType][]) {
      const path = prefix ? `${prefix}.${name}` : name;
      const inner = s instanceof z.ZodPrefault ? (s.def.innerType as z.ZodType) : s;
      if (inner instanceof z.ZodObject) {
        walk(inner.shape, path);
      } else {
        const meta = s.meta() as { description: string; expects: string };
        t.leaves.set(path, { path, default: (s as z.ZodPrefault).def.defaultValue, description: meta.description, expects: meta.expects });
      }
    }
  };
  walk(configSchema.shape, "");
  return (tree = t);
}
