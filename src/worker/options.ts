/** The worker's options, and their defaults (literals: roles do not read the configuration). */
import type { CommOptions } from "../comm/connect.js";
import type { TlsFiles } from "../comm/tls.js";
import { DEFAULT_THRESHOLDS, type MemoryThresholds } from "./memory.js";

export interface WorkerOptions {
  /**
   * The scheduler: its address and the cluster secret, or a scheduler file, read again before
   * every attempt to connect (so a worker waits for a file that is not there yet, gets past a
   * stale one, and follows a restarted scheduler that wrote a new one).
   */
  schedulerAddress?: string;
  secret?: string;
  schedulerFile?: string;
  name?: string;
  /** Task threads (default 1). */
  nthreads?: number;
  /** Bytes; 0 = no limit (default). */
  memoryLimit?: number;
  interface?: string;
  host?: string;
  /** Bind here instead (`tcp://0.0.0.0:9000`; port 0 = any), e.g. behind NAT with contactAddress. */
  listenAddress?: string;
  /** Advertise this address to the scheduler and peers instead of the one bound. */
  contactAddress?: string;
  /** Abstract resources this worker offers, e.g. { GPU: 1 }. */
  resources?: Record<string, number>;
  /** Thresholds as fractions of memoryLimit (Dask's names and defaults). */
  memory?: Partial<MemoryThresholds>;
  /** How often memory is measured (default 100 ms). */
  memoryMonitorMs?: number;
  /** Stop spilling once this many bytes are on disk; false (default) = no cap. */
  maxSpillBytes?: number | false;
  /** Run under a nanny, which enforces `terminate` (default false: the worker closes itself). */
  supervised?: boolean;
  /**
   * Retire gracefully after this long (± `lifetimeStaggerMs`, so that a batch of workers do
   * not all leave at once): no new tasks, running ones finish, results move to other workers.
   */
  lifetimeMs?: number;
  lifetimeStaggerMs?: number;
  /**
   * Its batch job's end (`at`, ms since the epoch; dask-worker-ts learns it from the queue
   * system): the worker retires gracefully `marginMs` before, as for a lifetime but never
   * restarted by the nanny, and its running tasks get half the margin to finish before they are
   * handed over to other workers. The earlier of this and the lifetime wins. The worker tells
   * the scheduler at registration, which then starts no task on it that would not finish in time.
   */
  jobEnd?: JobEnd;
  /** Where spilled results go (a subdirectory per worker; default: the OS temp directory). */
  localDirectory?: string;
  /** Give up after this long without a scheduler (default 60 s; Infinity = never). */
  deathTimeoutMs?: number;
  /** How often to beat (default 1 s); a scheduler with many workers asks for less often (200 beats a second in all), and the longer wins. */
  heartbeatMs?: number;
  /** TLS PEM files: the worker listens on tls:// and reaches tls:// peers and scheduler with them. */
  tls?: TlsFiles;
  /** Connection settings (defaults: the configuration's). */
  comm?: CommOptions;
}

/** A batch job's end, and how long before it its workers retire. */
export interface JobEnd {
  /** ms since the epoch */
  at: number;
  marginMs: number;
}

/**
 * Defaults of the options above; the same as the configuration's defaults
 * (`distributed.worker.*`, `distributed.deploy.death-timeout`), which a unit test checks.
 */
export const WORKER_DEFAULTS: Required<Pick<WorkerOptions, "nthreads" | "memory" | "memoryMonitorMs" | "maxSpillBytes" | "resources" | "lifetimeStaggerMs" | "deathTimeoutMs">> = {
  nthreads: 1,
  memory: DEFAULT_THRESHOLDS,
  memoryMonitorMs: 100,
  maxSpillBytes: false,
  resources: {},
  lifetimeStaggerMs: 0,
  deathTimeoutMs: 60_000,
};
