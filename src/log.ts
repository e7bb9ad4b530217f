/**
 * One root pino logger per process, writing synchronously to stderr (buffered lines are lost
 * when mpirun kills a rank). Base fields: rank, role, pid, hostname. Components take children.
 *
 * pino itself is loaded on the first line that is actually written: loading it costs ~50 ms
 * of CPU, and on a busy node at start-up every process that logs nothing (workers, nannies
 * and the client rank on a normal run) should not pay it.
 */
import { createRequire } from "node:module";
import { hostname } from "node:os";
import type { LevelWithSilent, Logger as PinoLogger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const LEVEL_VALUES: Record<LevelWithSilent, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

type LogMethod = (obj: Record<string, unknown>, msg: string) => void;

/** The logging surface the code uses: pino's, for one component. */
export interface Logger {
  fatal: LogMethod;
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  trace: LogMethod;
}

function envLevel(): LevelWithSilent {
  const v = process.env.DASK_MPI_TS_LOG_LEVEL;
  return v && (LOG_LEVELS as readonly string[]).includes(v) ? (v as LevelWithSilent) : "info";
}

let level: LevelWithSilent = envLevel();
let baseFields: Record<string, unknown> = {};
let root: PinoLogger | undefined;

function pinoRoot(): PinoLogger {
  if (!root) {
    const { pino } = createRequire(import.meta.url)("pino") as typeof import("pino");
    root = pino({ level: "trace", base: { pid: process.pid, hostname: hostname() } }, pino.destination({ fd: 2, sync: true }));
  }
  return root;
}

class ComponentLogger implements Logger {
  #component: string;
  #pino: PinoLogger | undefined;
  constructor(component: string) {
    this.#component = component;
  }
  #write(at: LevelWithSilent, obj: Record<string, unknown>, msg: string): void {
    if (LEVEL_VALUES[at] < LEVEL_VALUES[level]) return;
    // fields set by configureLogger after this logger was made still apply
    this.#pino ??= pinoRoot().child({ ...baseFields, component: this.#component });
    this.#pino[at as Exclude<LevelWithSilent, "silent">](obj, msg);
  }
  fatal: LogMethod = (o, m) => this.#write("fatal", o, m);
  error: LogMethod = (o, m) => this.#write("error", o, m);
  warn: LogMethod = (o, m) => this.#write("warn", o, m);
  info: LogMethod = (o, m) => this.#write("info", o, m);
  debug: LogMethod = (o, m) => this.#write("debug", o, m);
  trace: LogMethod = (o, m) => this.#write("trace", o, m);
}

/** Set fields (rank, role) and the level for every line written from now on. */
export function configureLogger(fields: { level?: LevelWithSilent; [field: string]: unknown }): void {
  const { level: newLevel, ...base } = fields;
  baseFields = { ...baseFields, ...base };
  if (newLevel) {
    level = newLevel;
    // processes started from here on (nanny children) log at the same level
    process.env.DASK_MPI_TS_LOG_LEVEL = newLevel;
  }
}

/** The level in force (e.g. to hand to a child process). */
export function currentLogLevel(): LevelWithSilent {
  return level;
}

/** A logger for one component, e.g. `logger("scheduler")`. Cheap: pino loads on first use. */
export function logger(component: string): Logger {
  return new ComponentLogger(component);
}
