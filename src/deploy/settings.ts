/**
 * What the launchers (`dask-mpi-ts`, initialize(), `dask-worker-ts`, `dask-scheduler-ts`)
 * take from the configuration: the one mapping from config keys to the options of the
 * scheduler, the workers and their nannies, with what the launcher was given directly (flags,
 * initialize() options) winning over the configuration. Pure, and zod-free.
 */
import type { CommOptions } from "../comm/connect.js";
import type { TlsFiles } from "../comm/tls.js";
import { ConfigError } from "../errors.js";
import type { LevelWithSilent } from "pino";
import type { LogFormat } from "../log.js";
import type { NannyOptions } from "../nanny/options.js";
import type { SchedulerOptions } from "../scheduler/options.js";
import type { MemoryThresholds } from "../worker/memory.js";
import type { WorkerOptions } from "../worker/options.js";
import type { SourceOptions } from "../config/sources.js";
import { originOf, startupConfig, type StartupConfig } from "../config/startup.js";
import { parseMemoryLimit } from "../units.js";

/** Launchers read the configuration through deploy (the architecture's rule). */
export { startupConfig, type StartupConfig } from "../config/startup.js";

/** Worker settings a launcher was given directly; undefined = not given (the configuration decides). */
export interface WorkerGiven {
  nthreads?: number;
  /** Per-worker limit: bytes, or text as --memory-limit takes it ("auto" divides the node's memory among its worker processes). */
  memoryLimit?: number | string;
  /** Thresholds as fractions of the memory limit, each `false` to turn it off. */
  memory?: Partial<MemoryThresholds>;
  localDirectory?: string;
  /** Abstract resources each worker offers, e.g. { GPU: 1 }. */
  resources?: Record<string, number>;
  /** Workers retire after this long (± stagger); with restart, their nanny starts fresh ones. */
  lifetimeMs?: number;
  lifetimeStaggerMs?: number;
  lifetimeRestart?: boolean;
  deathTimeoutMs?: number;
}

/**
 * Options of a cluster started by `dask-mpi-ts` (under mpirun or srun) or initialize(). Worker
 * settings left out come from the configuration (`~/.config/dask-mpi-ts/*.yaml`,
 * DASK_MPI_TS_CONFIG, DASK_MPI_TS_* variables), else its defaults: `nthreads` 1, `memoryLimit`
 * "auto" (the node's memory divided among its ranks).
 */
export interface ClusterOptions extends WorkerGiven, JournalGiven {
  schedulerFile?: string;
  schedulerPort?: number;
  interface?: string;
  /** Where rank 0 serves the dashboard (default ":8787"); false = no dashboard. */
  dashboardAddress?: string | false;
  /** PEM files: the whole cluster (scheduler, workers, client rank) speaks tls://. */
  tls?: TlsFiles;
  /** Supervise each worker in a child process (default true). */
  nanny?: boolean;
  /** Worker name prefix: workers are named `<name>-<rank>`, or just the rank. */
  name?: string;
  logLevel?: LevelWithSilent;
  logFormat?: LogFormat;
  /** "tcp" or "tls" (needs `tls`); default: tls:// when `tls` is given, else tcp://. */
  protocol?: "tcp" | "tls";
  /**
   * Worker settings as keys of the configuration's `distributed.worker` section (`dask-mpi-ts
   * config` lists them; `-` or `_`), merged last: over the configuration and over the options
   * above. Validated with the configuration's schema; a bad key or value fails every rank.
   * @example { nthreads: 2, "memory-limit": "4GB", memory: { target: 0.5 }, resources: { GPU: 1 } }
   */
  workerOptions?: WorkerConfigOptions;
}

/** The configuration's `distributed.worker` section as users write it. */
export type WorkerConfigOptions = Record<string, unknown>;

/** Each worker setting a launcher can be given, with the configuration key that stands for it. */
const GIVEN_KEYS: Array<[keyof WorkerGiven | `memory.${keyof MemoryThresholds}`, string]> = [
  ["nthreads", "nthreads"],
  ["memoryLimit", "memory-limit"],
  ["localDirectory", "local-directory"],
  ["resources", "resources"],
  ["lifetimeMs", "lifetime.duration"],
  ["lifetimeStaggerMs", "lifetime.stagger"],
  ["lifetimeRestart", "lifetime.restart"],
  ["memory.target", "memory.target"],
  ["memory.spill", "memory.spill"],
  ["memory.pause", "memory.pause"],
  ["memory.terminate", "memory.terminate"],
];

/**
 * The configuration a cluster launcher starts from, with `opts.workerOptions` merged last:
 * they are validated with the schema as a configuration source named `source`, and the
 * options they set are dropped from `opts`, so that they win over flags too. Without worker
 * options: the configuration, and `opts` as they are.
 */
export async function clusterConfig(opts: ClusterOptions, source = "workerOptions", sources: SourceOptions = {}): Promise<{ config: StartupConfig; opts: ClusterOptions }> {
  const wo = opts.workerOptions;
  if (wo === undefined) return { config: await startupConfig(sources), opts };
  if (typeof wo !== "object" || wo === null || Array.isArray(wo)) {
    throw new ConfigError(`${source} must be an object of distributed.worker settings (e.g. {"nthreads": 2}), got ${JSON.stringify(wo)}`);
  }
  const config = await startupConfig({ ...sources, overrides: [{ path: "distributed.worker", value: wo, source }] });
  const out: ClusterOptions = { ...opts, memory: { ...opts.memory } };
  for (const [field, key] of GIVEN_KEYS) {
    if (originOf(config, `distributed.worker.${key}`) !== source) continue;
    if (field.startsWith("memory.")) delete out.memory![field.slice(7) as keyof MemoryThresholds];
    else delete out[field as keyof WorkerGiven];
  }
  return { config, opts: out };
}

/** The parts of a worker's and its nanny's options that come from the configuration. */
export interface WorkerSettings {
  worker: Required<Pick<WorkerOptions, "nthreads" | "memoryLimit" | "memory" | "memoryMonitorMs" | "maxSpillBytes" | "resources" | "lifetimeStaggerMs" | "deathTimeoutMs" | "comm">> &
    Pick<WorkerOptions, "localDirectory" | "lifetimeMs">;
  nanny: Required<Pick<NannyOptions, "maxRestarts" | "restartWindowMs" | "restartAfterRetire">>;
}

const MEMORY_LIMIT = "distributed.worker.memory-limit";

/**
 * Worker and nanny options: `given` over the configuration. A memory limit as text is
 * resolved for this node (`workersOnNode` worker processes share it).
 */
export function workerSettings(config: StartupConfig, given: WorkerGiven, node: { workersOnNode: number }): WorkerSettings {
  const c = config.values.distributed;
  const w = c.worker;
  const limit = given.memoryLimit ?? w["memory-limit"];
  let memoryLimit: number;
  if (typeof limit === "number") {
    memoryLimit = limit;
  } else if (given.memoryLimit !== undefined) {
    memoryLimit = parseMemoryLimit(limit, node, "--memory-limit");
  } else {
    // the schema checked the text; only the node can say that it is too much
    try {
      memoryLimit = parseMemoryLimit(limit, node, MEMORY_LIMIT);
    } catch (err) {
      throw new ConfigError(`${(err as Error).message} (from ${originOf(config, MEMORY_LIMIT)})`, { cause: err });
    }
  }
  const m = w.memory;
  return {
    worker: {
      nthreads: given.nthreads ?? w.nthreads,
      memoryLimit,
      memory: { target: m.target, spill: m.spill, pause: m.pause, terminate: m.terminate, ...defined(given.memory ?? {}) },
      memoryMonitorMs: m["monitor-interval"],
      maxSpillBytes: m["max-spill"],
      localDirectory: given.localDirectory ?? w["local-directory"] ?? undefined,
      resources: given.resources ?? w.resources,
      lifetimeMs: given.lifetimeMs ?? w.lifetime.duration ?? undefined,
      lifetimeStaggerMs: given.lifetimeStaggerMs ?? w.lifetime.stagger,
      deathTimeoutMs: given.deathTimeoutMs ?? c.deploy["death-timeout"] ?? Infinity,
      comm: commSettings(config),
    },
    nanny: {
      maxRestarts: c.nanny["max-restarts"],
      restartWindowMs: c.nanny["restart-window"],
      restartAfterRetire: given.lifetimeRestart ?? w.lifetime.restart,
    },
  };
}

/** The parts of the scheduler's options that come from the configuration. */
export function schedulerSettings(
  config: StartupConfig,
  given: JournalGiven = {},
): Required<Pick<SchedulerOptions, "allowedFailures" | "workerTtlMs" | "idleTimeoutMs" | "comm">> & Pick<SchedulerOptions, "journal"> {
  const s = config.values.distributed.scheduler;
  const j = s.journal;
  const directory = given.journal ?? j.directory;
  const journal = directory
    ? { directory, checkpoint: given.checkpoint ?? j.checkpoint, graceMs: j["take-over-grace"], leaseMs: j.lease, clientTimeoutMs: j["client-timeout"], syncMs: j["sync-interval"] }
    : undefined;
  return { allowedFailures: s["allowed-failures"], workerTtlMs: s["worker-ttl"], idleTimeoutMs: s["idle-timeout"], comm: commSettings(config), ...(journal ? { journal } : {}) };
}

/** The journal flags (--journal DIR, --checkpoint), over `distributed.scheduler.journal.*`. */
export interface JournalGiven {
  journal?: string;
  checkpoint?: boolean;
}

function commSettings(config: StartupConfig): CommOptions {
  const c = config.values.distributed.comm;
  return { connectTimeoutMs: c.timeouts.connect, handshakeTimeoutMs: c["handshake-timeout"], maxFrameBytes: c["max-frame-size"] };
}

/**
 * The logger's level and format. The level is `given` (--log-level), else the configuration's
 * when a source set it, else left as it is: DASK_MPI_TS_LOG_LEVEL, which launchers hand down
 * to the processes they start, stands in for the default.
 */
export function logSettings(config: StartupConfig, given: { logLevel?: LevelWithSilent; logFormat?: LogFormat }): { level?: LevelWithSilent; format: LogFormat } {
  const { logging } = config.values;
  const level = given.logLevel ?? (originOf(config, "logging.level") === "default" ? undefined : logging.level);
  // unless someone chose: human-readable lines for a person at a terminal, JSON for files
  const format = given.logFormat ?? (originOf(config, "logging.format") === "default" && process.stderr.isTTY ? "pretty" : logging.format);
  return { level, format };
}

/** `o` without its undefined fields, so that spreading it overrides only what was given. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
