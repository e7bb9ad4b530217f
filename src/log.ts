/**
 * One root pino logger per process, writing synchronously to stderr (buffered lines are lost
 * when mpirun kills a rank). Base fields: rank, role, pid, hostname. Components take children.
 * Lines are JSON, or with `logging.format: pretty` one human-readable line each.
 *
 * pino itself is loaded on the first line that is actually written: loading it costs ~50 ms
 * of CPU, and on a busy node at start-up every process that logs nothing (workers, nannies
 * and the client rank on a normal run) should not pay it.
 */
import { writeSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import type { LevelWithSilent, Logger as PinoLogger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const LEVEL_VALUES: Record<LevelWithSilent, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

export type LogFormat = "json" | "pretty";

/** The defaults of `logging.*` (a unit test keeps them equal to the configuration's). */
export const LOG_DEFAULTS: { readonly level: LevelWithSilent; readonly format: LogFormat } = { level: "info", format: "json" };

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

/** The level a parent process handed down (launchers set it for what they start), else the default. */
function envLevel(): LevelWithSilent {
  const v = process.env.DASK_MPI_TS_LOG_LEVEL;
  return v && (LOG_LEVELS as readonly string[]).includes(v) ? (v as LevelWithSilent) : LOG_DEFAULTS.level;
}

let level: LevelWithSilent = envLevel();
let format: LogFormat = LOG_DEFAULTS.format;
let baseFields: Record<string, unknown> = {};
let root: PinoLogger | undefined;
/** Bumped by configureLogger: component loggers then make new children (new fields, format). */
let generation = 0;

/** Lines kept for recentLogs() (Dask's `distributed.admin.log-length`). */
export const RECENT_LOG_LINES = 10_000;

/** The last `capacity` lines added (a ring): `last(n)` oldest first. */
export class RecentLines {
  #lines: string[] = [];
  /** where the oldest line is, once the ring is full */
  #at = 0;
  constructor(readonly capacity: number) {}

  add(line: string): void {
    if (this.#lines.length < this.capacity) this.#lines.push(line);
    else {
      this.#lines[this.#at] = line;
      this.#at = (this.#at + 1) % this.capacity;
    }
  }

  last(n: number): string[] {
    const ordered = this.#at === 0 ? this.#lines : [...this.#lines.slice(this.#at), ...this.#lines.slice(0, this.#at)];
    return n === 0 ? [] : ordered.slice(-n);
  }
}

/** The lines this process wrote, as JSON. */
const recent = new RecentLines(RECENT_LOG_LINES);

/** One line of a process's log, as getSchedulerLogs and getWorkerLogs give it. */
export interface LogRecord {
  /** "info", "warn", ... */
  level: string;
  /** milliseconds since the epoch */
  time: number;
  msg: string;
  component?: string;
  [field: string]: unknown;
}

/** The last `n` lines this process wrote (at its log level), oldest first (Dask's get_worker_logs). */
export function recentLogs(n = RECENT_LOG_LINES): LogRecord[] {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`the number of log lines must be an integer >= 0, got ${n}`);
  return recent.last(n).map((line) => {
    const { level: l, ...rest } = JSON.parse(line) as Record<string, unknown> & { level: number };
    return { ...rest, level: (LEVEL_NAMES[l] ?? String(l)).toLowerCase() } as LogRecord;
  });
}

function pinoRoot(): PinoLogger {
  if (!root) {
    const { pino } = createRequire(import.meta.url)("pino") as typeof import("pino");
    const out = format === "pretty" ? { write: (line: string) => void writeSync(2, prettyLine(line)) } : pino.destination({ fd: 2, sync: true });
    // every line also kept in memory, for getSchedulerLogs / getWorkerLogs
    const destination = { write: (line: string) => (recent.add(line), out.write(line)) };
    root = pino({ level: "trace", base: { pid: process.pid, hostname: hostname() } }, destination);
  }
  return root;
}

/**
 * One pino JSON line as `time LEVEL role rank component: msg key=value ...`.
 * @example prettyLine('{"level":40,"time":0,"role":"worker","rank":2,"component":"worker","msg":"pausing","rss":5}')
 *   // "1970-01-01T00:00:00.000Z WARN  worker 2 worker: pausing rss=5\n"
 */
export function prettyLine(json: string): string {
  const { level: n, time, msg, role, rank, component, pid: _pid, hostname: _host, ...fields } = JSON.parse(json) as Record<string, unknown>;
  const who = [role, rank, component].filter((v) => v !== undefined).join(" ");
  const rest = Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return `${new Date(time as number).toISOString()} ${(LEVEL_NAMES[n as number] ?? String(n)).padEnd(5)} ${who}: ${String(msg)}${rest.join("")}\n`;
}

class ComponentLogger implements Logger {
  #component: string;
  #pino: PinoLogger | undefined;
  #generation = -1;
  constructor(component: string) {
    this.#component = component;
  }
  #write(at: LevelWithSilent, obj: Record<string, unknown>, msg: string): void {
    if (LEVEL_VALUES[at] < LEVEL_VALUES[level]) return;
    // fields and format set by configureLogger after this logger was made still apply
    if (this.#generation !== generation) {
      this.#pino = pinoRoot().child({ ...baseFields, component: this.#component });
      this.#generation = generation;
    }
    this.#pino![at as Exclude<LevelWithSilent, "silent">](obj, msg);
  }
  fatal: LogMethod = (o, m) => this.#write("fatal", o, m);
  error: LogMethod = (o, m) => this.#write("error", o, m);
  warn: LogMethod = (o, m) => this.#write("warn", o, m);
  info: LogMethod = (o, m) => this.#write("info", o, m);
  debug: LogMethod = (o, m) => this.#write("debug", o, m);
  trace: LogMethod = (o, m) => this.#write("trace", o, m);
}

/** Set fields (rank, role), the level and the format for every line written from now on. */
export function configureLogger(fields: { level?: LevelWithSilent; format?: LogFormat; [field: string]: unknown }): void {
  const { level: newLevel, format: newFormat, ...base } = fields;
  baseFields = { ...baseFields, ...base };
  generation++;
  if (newFormat && newFormat !== format) {
    format = newFormat;
    root = undefined;
  }
  if (newLevel) {
    level = newLevel;
    // processes started from here on (nanny children) log at the same level
    process.env.DASK_MPI_TS_LOG_LEVEL = newLevel;
  }
}

/** The level and format in force, to hand to a child process. */
export function currentLogSettings(): { level: LevelWithSilent; format: LogFormat } {
  return { level, format };
}

/** A logger for one component, e.g. `logger("scheduler")`. Cheap: pino loads on first use. */
export function logger(component: string): Logger {
  return new ComponentLogger(component);
}
