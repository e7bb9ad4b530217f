/** The scheduler's options, and their defaults (literals: roles do not read the configuration). */
import type { CommOptions } from "../comm/connect.js";
import type { TlsFiles } from "../comm/tls.js";
import type { Scheme } from "../comm/types.js";
import type { ExtensionSource } from "./extension.js";

export interface SchedulerOptions {
  /** Cluster secret every connection must prove. */
  secret: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Transport to listen on (default: tls with `tls`, else tcp); `inproc` serves roles in this process only. */
  protocol?: Scheme;
  interface?: string;
  host?: string;
  /** Where to write the scheduler file for outside clients and workers. */
  schedulerFile?: string;
  /** A worker silent this long is removed (default 30 s; null = never). */
  workerTtlMs?: number | null;
  /** Workers a task may take down with it before it errs with KilledWorkerError (default 3). */
  allowedFailures?: number;
  /** Close after this long with no task to run or running (default null = never). */
  idleTimeoutMs?: number | null;
  /** Connection settings (defaults: the configuration's). */
  comm?: CommOptions;
  /** Listen on tls:// with these PEM files; peers must present certificates the CA signed. */
  tls?: TlsFiles;
  /** What extends the scheduler (the dashboard: `dashboardExtension(address)` of dashboard/index.ts). */
  extensions?: ExtensionSource[];
  /**
   * The launchers' shorthand for the dashboard (`:8787`, `host:8787`; a taken port falls back to
   * a free one with a warning): `withDashboard()` (deploy/dashboard.ts) turns it into an entry
   * of `extensions`. The scheduler imports no extension, so it refuses this option itself.
   */
  dashboardAddress?: string;
  /** Journal the durable facts in this directory, and take over from the scheduler that wrote it (scheduler/take-over.ts). */
  journal?: JournalSettings;
}

/** A journaled scheduler's settings (configuration `distributed.scheduler.journal.*`). */
export interface JournalSettings {
  /** The journal's directory, on a file system every scheduler host sees. */
  directory: string;
  /** Write every result to the journal's checkpoints (default false: only tasks submitted with `checkpoint`). */
  checkpoint?: boolean;
  /** How long a scheduler taking over waits for the old one's workers to come back (default 10 s). */
  graceMs?: number;
  /** The lock's lease: a lock not renewed for this long is stale (default 10 s). */
  leaseMs?: number;
  /** A client of the journal not back this long after the take-over is removed (default 60 s). */
  clientTimeoutMs?: number;
  /** Group-sync interval of the journal's writes (default 20 ms). */
  syncMs?: number;
}

/**
 * Defaults of the options above; the same as the configuration's defaults
 * (`distributed.scheduler.*`), which a unit test checks.
 */
export const JOURNAL_DEFAULTS: Required<Omit<JournalSettings, "directory">> = { checkpoint: false, graceMs: 10_000, leaseMs: 10_000, clientTimeoutMs: 60_000, syncMs: 20 };

export const SCHEDULER_DEFAULTS: Required<Pick<SchedulerOptions, "allowedFailures" | "workerTtlMs" | "idleTimeoutMs">> = {
  allowedFailures: 3,
  workerTtlMs: 30_000,
  idleTimeoutMs: null,
};

/** Heartbeats a second the scheduler asks of its workers, all together, once there are many (Dask's heartbeat_interval: about 200 too). */
export const HEARTBEATS_PER_S = 200;

/**
 * How often (ms) each of `workers` workers should beat, so that heartbeats cost the scheduler
 * the same at 1,000 workers as at 200: HEARTBEATS_PER_S in all, but at least three beats a
 * worker-TTL (`ttlMs`, null: none). A worker beats at this or its own interval, the longer (the
 * heartbeat's reply tells it), so below 200 workers nothing changes.
 */
export function heartbeatIntervalMs(workers: number, ttlMs: number | null): number {
  const spread = (1000 * workers) / HEARTBEATS_PER_S;
  return ttlMs === null ? spread : Math.min(spread, ttlMs / 3);
}
