/**
 * Walltimes, pure: how each queue system writes a time limit, the default retirement margin,
 * and how a job's end is read from what its queue system says about it (SLURM's time left, Grid
 * Engine's h_rt and start time, PBS's walltime and start time). The commands are run by
 * job-end.ts; everything here is parsing, unit-tested on real outputs.
 *
 * A job's end is the hard limit: the queue kills the job then. Its workers retire a margin
 * before it (WorkerOptions.jobEnd, worker/worker.ts), so that what they run finishes and what they hold
 * moves to workers that stay.
 */
import { ConfigError } from "../errors.js";
import { parseDuration } from "../units.js";

/** The default margin: a tenth of the walltime, at least 10 s, at most 5 minutes (and never more than half the walltime). */
export const MARGIN = { fraction: 0.1, minMs: 10_000, maxMs: 300_000 } as const;

/**
 * How long before its job's end a worker retires when no margin is given.
 * @example defaultMarginMs(3_600_000) // 300_000 (5 minutes of an hour)
 */
export function defaultMarginMs(walltimeMs: number): number {
  return Math.min(walltimeMs / 2, MARGIN.maxMs, Math.max(MARGIN.minMs, Math.round(walltimeMs * MARGIN.fraction)));
}

/**
 * The milliseconds of a walltime as `system` takes it in a job script, or undefined for text
 * this does not know (the queue system is then the judge). SLURM: minutes, M:S, H:M:S, D-H,
 * D-H:M, D-H:M:S; LSF: minutes or H:M; the others (PBS, Grid Engine): seconds, M:S, H:M:S.
 * @example walltimeMs("slurm", "1-00:00:00") // 86_400_000
 */
export function walltimeMs(system: string, text: string): number | undefined {
  const t = text.trim();
  let s: number | undefined;
  if (system === "slurm") {
    const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
    if (!m) return undefined;
    const [days, a, b, c] = [m[1], m[2], m[3], m[4]].map((x) => (x === undefined ? undefined : Number(x)));
    if (days !== undefined) s = days * 86400 + a! * 3600 + (b ?? 0) * 60 + (c ?? 0);
    else if (c !== undefined) s = a! * 3600 + b! * 60 + c;
    else if (b !== undefined) s = a! * 60 + b;
    else s = a! * 60;
  } else if (system === "lsf") {
    const m = /^(?:(\d+):)?(\d+)$/.exec(t);
    if (!m) return undefined;
    s = (m[1] === undefined ? 0 : Number(m[1]) * 3600) + Number(m[2]) * 60;
  } else {
    s = clockSeconds(t);
  }
  return s === undefined ? undefined : s * 1000;
}

/** "90", "1:30", "01:00:00", "1:01:00:00" (D:H:M:S) -> seconds; undefined otherwise. */
function clockSeconds(t: string): number | undefined {
  if (!/^\d+(?::\d+){0,3}$/.test(t)) return undefined;
  return t.split(":").reduce((acc, part, i, all) => acc + Number(part) * [1, 60, 3600, 86400][all.length - 1 - i]!, 0);
}

/**
 * The `--walltime-margin` a cluster hands its workers: a duration, `false` for none, or
 * undefined for the workers' default (a tenth of the walltime, 10 s to 5 min). Checked against
 * the walltime when the system's format is known: a margin as long as the job would retire
 * its workers as soon as they start.
 */
export function marginFlag(margin: number | string | false | undefined, system: string, walltime: string | null): string | null {
  if (margin === undefined) return null;
  if (margin === false) return "none";
  const ms = typeof margin === "number" ? margin * 1000 : parseDuration(margin, "walltimeMargin");
  if (!(ms > 0) || !Number.isFinite(ms)) throw new ConfigError(`walltimeMargin must be more than 0 seconds (or false for none), got ${JSON.stringify(margin)}`);
  const wall = walltime === null ? undefined : walltimeMs(system, walltime);
  if (wall !== undefined && ms >= wall) throw new ConfigError(`walltimeMargin ${JSON.stringify(margin)} must be shorter than the walltime ${JSON.stringify(walltime)}: the workers would retire as soon as they start`);
  return `${ms / 1000}s`;
}

/** What a job's queue system says about its time: its end (ms since the epoch) and its whole limit; null: no limit. */
export type JobTime = { endsAt: number; limitMs: number } | null;

/** The environment a worker runs in. */
export type Env = Record<string, string | undefined>;

/**
 * Where a worker in a batch job learns when its job ends: one per queue system. `jobId` tells
 * from the environment whether this process runs in such a job; `commands` ask the queue system
 * about it; `parse` reads their outputs (in order), throwing on output it cannot read: a wrong
 * end is worse than none.
 */
export interface JobEndSource {
  /** "slurm", "pbs", "sge" */
  readonly system: string;
  jobId(env: Env): string | undefined;
  /** argv of each command (structurally system.ts's Command: this module stays below options.ts) */
  commands(id: string, env: Env, user: string): Array<{ argv: string[] }>;
  parse(outputs: string[], now: number, id: string, env: Env): JobTime;
}

/** An output a source cannot read. */
export class JobTimeParseError extends Error {}

const fail = (what: string, output: string): never => {
  throw new JobTimeParseError(`cannot read ${what} from ${JSON.stringify(output.trim().slice(0, 200))}`);
};

/**
 * SLURM's `%L` (time left) and `%l` (time limit): "M:SS", "H:MM:SS", "D-HH:MM:SS"; UNLIMITED
 * or NOT_SET for none. Seconds, or null for no limit.
 * @example slurmTime("1-02:03:04") // 93784
 */
export function slurmTime(text: string): number | null {
  const t = text.trim();
  if (t === "UNLIMITED" || t === "NOT_SET" || t === "INFINITE") return null;
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(t);
  if (!m) return fail("a SLURM time", t);
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** SLURM: `squeue -h -j ID -o %L|%l`: time left counts from squeue's own clock, so no time zone or clock skew enters. */
export const slurmEnd: JobEndSource = {
  system: "slurm",
  jobId: (env) => env.SLURM_JOB_ID || undefined,
  commands: (id) => [{ argv: ["squeue", "--noheader", "--jobs", id, "--format=%L|%l"] }],
  parse([out = ""], now) {
    const line = out.trim().split("\n").find((l) => l.includes("|"));
    if (!line) return fail("the job's time left", out);
    const [left, limit] = line.split("|").map((s) => slurmTime(s!));
    if (left === null || limit === null) return null;
    return { endsAt: now + left! * 1000, limitMs: limit! * 1000 };
  },
};

/** Grid Engine's `qstat -j ID`: the h_rt of its hard resource list (seconds or H:M:S); null without one. */
export function sgeHardRuntime(qstatJ: string): number | null {
  const line = /^hard resource_list:\s*(.*)$/m.exec(qstatJ)?.[1];
  if (line === undefined) {
    if (!/^job_number:/m.test(qstatJ)) fail("a Grid Engine job description", qstatJ);
    return null;
  }
  const v = /(?:^|,)h_rt=([^,\s]+)/.exec(line)?.[1];
  if (v === undefined) return null;
  if (/^infinity$/i.test(v)) return null;
  return clockSeconds(v) ?? fail("h_rt", v);
}

/**
 * A running job's start from Grid Engine's `qstat -u USER` listing (its "submit/start at"
 * column, MM/DD/YYYY HH:MM:SS in local time), the row of array task `task` when given.
 */
export function sgeStart(listing: string, id: string, task?: string): number {
  for (const line of listing.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== id || !/[rt]/.test(f[4] ?? "")) continue;
    if (task !== undefined && f.length > 9 && f[f.length - 1] !== task) continue;
    const d = /^(\d\d)\/(\d\d)\/(\d{4})$/.exec(f[5] ?? "");
    const t = /^(\d\d):(\d\d):(\d\d)$/.exec(f[6] ?? "");
    if (!d || !t) return fail(`job ${id}'s start time`, line);
    return new Date(Number(d[3]), Number(d[1]) - 1, Number(d[2]), Number(t[1]), Number(t[2]), Number(t[3])).getTime();
  }
  return fail(`a running job ${id}`, listing);
}

/** Grid Engine: `qstat -j ID` for h_rt, `qstat -u USER` for the start time (Grid Engine sets neither in the job's environment). */
export const sgeEnd: JobEndSource = {
  system: "sge",
  // JOB_ID alone is too common a name: Grid Engine's jobs also have SGE_ROOT or SGE_JOB_SPOOL_DIR
  jobId: (env) => (env.JOB_ID && (env.SGE_ROOT || env.SGE_JOB_SPOOL_DIR) ? env.JOB_ID : undefined),
  commands: (id, _env, user) => [{ argv: ["qstat", "-j", id] }, { argv: ["qstat", "-u", user] }],
  parse([qstatJ = "", listing = ""], _now, id, env) {
    const hrt = sgeHardRuntime(qstatJ);
    if (hrt === null) return null;
    const task = env.SGE_TASK_ID && env.SGE_TASK_ID !== "undefined" ? env.SGE_TASK_ID : undefined;
    return { endsAt: sgeStart(listing, id, task) + hrt * 1000, limitMs: hrt * 1000 };
  },
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `qstat -f` attributes ("    name = value") by name. */
function pbsAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\s+([\w.]+) = (.*)$/gm)) out.set(m[1]!, m[2]!.trim());
  return out;
}

/**
 * PBS (PBS Pro, OpenPBS, Torque) from `qstat -f ID`: the remaining walltime where Torque says
 * it (Walltime.Remaining), else Resource_List.walltime (or Torque's PBS_WALLTIME) from the
 * start (stime as "Wed Dec  2 08:45:14 2026" in local time, or Torque's start_time in epoch
 * seconds), else minus resources_used.walltime (coarse: PBS updates it periodically).
 */
export function pbsTime(qstatF: string, now: number, env: Env = {}): JobTime {
  const a = pbsAttributes(qstatF);
  if (!/^Job Id:/m.test(qstatF)) fail("a PBS job description", qstatF);
  const wallText = a.get("Resource_List.walltime");
  const limit = wallText !== undefined ? (clockSeconds(wallText) ?? fail("Resource_List.walltime", wallText)) : env.PBS_WALLTIME ? (clockSeconds(env.PBS_WALLTIME) ?? fail("PBS_WALLTIME", env.PBS_WALLTIME)) : null;
  if (limit === null) return null;
  const remaining = a.get("Walltime.Remaining");
  if (remaining !== undefined) return { endsAt: now + (clockSeconds(remaining) ?? fail("Walltime.Remaining", remaining)) * 1000, limitMs: limit * 1000 };
  const stime = a.get("stime");
  if (stime !== undefined) {
    const m = /^\w{3} (\w{3})\s+(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(stime);
    const month = m ? MONTHS.indexOf(m[1]!) : -1;
    if (!m || month < 0) return fail("stime", stime);
    return { endsAt: new Date(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])).getTime() + limit * 1000, limitMs: limit * 1000 };
  }
  const start = a.get("start_time");
  if (start !== undefined) {
    if (!/^\d+$/.test(start)) return fail("start_time", start);
    return { endsAt: Number(start) * 1000 + limit * 1000, limitMs: limit * 1000 };
  }
  const used = a.get("resources_used.walltime");
  if (used !== undefined) return { endsAt: now + (limit - (clockSeconds(used) ?? fail("resources_used.walltime", used))) * 1000, limitMs: limit * 1000 };
  return fail("the job's start (stime, start_time or resources_used.walltime)", qstatF);
}

export const pbsEnd: JobEndSource = {
  system: "pbs",
  jobId: (env) => env.PBS_JOBID || undefined,
  commands: (id) => [{ argv: ["qstat", "-f", id] }],
  parse: ([out = ""], now, _id, env) => pbsTime(out, now, env),
};

/** The sources a worker tries, in order; the first whose job id is in the environment is asked. */
export const JOB_END_SOURCES: readonly JobEndSource[] = [slurmEnd, pbsEnd, sgeEnd];

/**
 * What `--walltime-margin` says: "auto" (the default rule), "none", or a duration.
 * @example parseMarginFlag("90s") // 90_000
 */
export function parseMarginFlag(text: string): number | "auto" | "none" {
  const t = text.trim().toLowerCase();
  if (t === "auto" || t === "none") return t;
  const ms = parseDuration(text, "--walltime-margin");
  if (!(ms > 0)) throw new ConfigError(`--walltime-margin must be auto, none or a duration more than 0, got ${JSON.stringify(text)}`);
  return ms;
}
