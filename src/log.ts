/**
 * One root pino logger per process, writing synchronously to stderr (buffered lines are lost
 * when mpirun kills a rank). Base fields: rank, role, pid, hostname. Components take children.
 */
import { hostname } from "node:os";
import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

let root: Logger | undefined;

function envLevel(): LevelWithSilent {
  const v = process.env.DASK_MPI_TS_LOG_LEVEL;
  return v && (LOG_LEVELS as readonly string[]).includes(v) ? (v as LevelWithSilent) : "info";
}

/** The process's root logger; created on first use with level from DASK_MPI_TS_LOG_LEVEL. */
export function rootLogger(): Logger {
  if (!root) {
    root = pino(
      { level: envLevel(), base: { pid: process.pid, hostname: hostname() } },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return root;
}

/** Set fields (rank, role) and level on the root logger, for every child made afterwards. */
export function configureLogger(fields: { level?: LevelWithSilent; [field: string]: unknown }): Logger {
  const { level, ...base } = fields;
  const parent = rootLogger();
  root = Object.keys(base).length ? parent.child(base) : parent;
  if (level) {
    root.level = level;
    // processes started from here on (nanny children) log at the same level
    process.env.DASK_MPI_TS_LOG_LEVEL = level;
  }
  return root;
}

/** A child logger for one component, e.g. `logger("scheduler")`. */
export function logger(component: string): Logger {
  return rootLogger().child({ component });
}
