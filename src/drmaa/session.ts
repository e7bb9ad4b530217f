/**
 * DRMAA 1.0 from TypeScript, through the thin binding in native/drmaa (built only where a
 * drmaa.h exists). The binding opens the DRMAA library at run time: `DRMAA_LIBRARY_PATH`, else
 * the usual places. One session per process (DRMAA's rule). Calls that talk to the resource
 * manager run off the event loop and return promises; failures are DrmaaError with DRMAA's code
 * name and the resource manager's diagnosis.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DrmaaError, DrmaaUnavailableError, describeError } from "../errors.js";

export interface JobTemplate {
  remoteCommand: string;
  args?: string[];
  env?: Record<string, string>;
  workingDirectory?: string;
  jobName?: string;
  /** Options in the resource manager's own syntax, e.g. Grid Engine's `-l h_vmem=4G -q all.q`. */
  nativeSpecification?: string;
  /** `[host]:path`, as DRMAA writes it (":/tmp/out.log"). */
  outputPath?: string;
  errorPath?: string;
  joinFiles?: boolean;
}

export type JobStatus =
  | "undetermined" | "queued" | "system-hold" | "user-hold" | "user-system-hold"
  | "running" | "system-suspended" | "user-suspended" | "user-system-suspended" | "done" | "failed";

const STATUS: Record<number, JobStatus> = {
  0x00: "undetermined", 0x10: "queued", 0x11: "system-hold", 0x12: "user-hold", 0x13: "user-system-hold",
  0x20: "running", 0x21: "system-suspended", 0x22: "user-suspended", 0x23: "user-system-suspended", 0x30: "done", 0x40: "failed",
};
const ACTIONS = { suspend: 0, resume: 1, hold: 2, release: 3, terminate: 4 } as const;
export type JobAction = keyof typeof ACTIONS;

export interface JobExit {
  jobId: string;
  exited: boolean;
  exitStatus: number;
  signaled: boolean;
  termSignal: string;
  aborted: boolean;
}

interface Binding {
  load(library: string): string;
  init(contact?: string): Promise<void>;
  exit(): Promise<void>;
  runJob(t: JobTemplate): Promise<string>;
  runBulkJobs(t: JobTemplate, start: number, end: number, incr: number): Promise<string[]>;
  jobPs(id: string): Promise<number>;
  control(id: string, action: number): Promise<void>;
  controlSync(id: string, action: number): string | undefined;
  wait(id: string, timeoutS: number): Promise<JobExit>;
  info(): { drmSystem: string; implementation: string; contact: string; version: string };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const INSTALL =
  "DRMAA needs a DRMAA library and the package's DRMAA binding: install them (Debian/Ubuntu with Grid Engine: apt-get install gridengine-drmaa-dev gridengine-drmaa1.0), " +
  "build the binding (npm run build:drmaa, or DRMAA_INCLUDE_DIR=<dir of drmaa.h> npm run build:drmaa), and point DRMAA_LIBRARY_PATH at the library (libdrmaa.so) if it is not in a usual place";
const LIBRARIES = ["/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0", "/usr/lib/gridengine-drmaa/lib/libdrmaa.so", "libdrmaa.so.1.0", "libdrmaa.so.1", "libdrmaa.so"];

let binding: Binding | undefined;

/** The binding with a library loaded, or DrmaaUnavailableError saying what is missing and what to do. */
export function loadDrmaa(): Binding {
  if (binding) return binding;
  const addon = process.env.DASK_MPI_TS_DRMAA_ADDON ?? path.join(ROOT, "build", "drmaa", "Release", "dask_drmaa.node");
  if (!existsSync(addon)) throw new DrmaaUnavailableError(`the DRMAA binding is not built (no ${addon}). ${INSTALL}`);
  let b: Binding;
  try {
    b = createRequire(import.meta.url)(addon) as Binding;
  } catch (err) {
    throw new DrmaaUnavailableError(`the DRMAA binding ${addon} does not load: ${describeError(err)}. ${INSTALL}`);
  }
  const candidates = process.env.DRMAA_LIBRARY_PATH ? [process.env.DRMAA_LIBRARY_PATH] : LIBRARIES;
  const failures: string[] = [];
  for (const lib of candidates) {
    try {
      b.load(lib);
      binding = b;
      return b;
    } catch (err) {
      failures.push(describeError(err));
    }
  }
  if (failures.some((f) => f.includes("static TLS"))) {
    // Grid Engine's libdrmaa pulls in libjemalloc, whose thread-local storage cannot be added
    // to a process that is already running unless glibc reserved room for it at start
    throw new DrmaaUnavailableError(
      `the DRMAA library needs more static thread-local storage than this process reserved (${failures.find((f) => f.includes("static TLS"))}): ` +
        "start node with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 in its environment (or LD_PRELOAD=<path of libjemalloc.so.2>)",
    );
  }
  throw new DrmaaUnavailableError(`no DRMAA library could be opened (${failures.join("; ")}). ${INSTALL}`);
}

/** Rebuild the binding's plain errors as DrmaaError. */
function drmaaError(err: unknown): unknown {
  const e = err as { message?: string; drmaaCode?: number; codeName?: string; diagnosis?: string };
  if (typeof e?.drmaaCode !== "number") return err;
  return new DrmaaError(e.message ?? "DRMAA call failed", { drmaaCode: e.drmaaCode, codeName: e.codeName ?? "", diagnosis: e.diagnosis ?? "" }, { cause: err });
}

const call = async <T>(p: () => Promise<T>): Promise<T> => {
  try {
    return await p();
  } catch (err) {
    throw drmaaError(err);
  }
};

let open: DrmaaSession | undefined;

export class DrmaaSession {
  readonly #b: Binding;
  #closed = false;

  private constructor(b: Binding) {
    this.#b = b;
  }

  /** Start the process's DRMAA session (`contact`: the implementation's, default its own). */
  static async open(contact?: string): Promise<DrmaaSession> {
    if (open) throw new DrmaaUnavailableError("a DRMAA session is already open in this process: DRMAA allows one; close it first");
    const b = loadDrmaa();
    await call(() => b.init(contact));
    open = new DrmaaSession(b);
    return open;
  }

  info() {
    return this.#b.info();
  }

  runJob(t: JobTemplate): Promise<string> {
    return call(() => this.#b.runJob(t));
  }

  /** An array job of tasks start..end by incr; one id per task. */
  runBulkJobs(t: JobTemplate, start: number, end: number, incr = 1): Promise<string[]> {
    return call(() => this.#b.runBulkJobs(t, start, end, incr));
  }

  async status(jobId: string): Promise<JobStatus> {
    return STATUS[await call(() => this.#b.jobPs(jobId))] ?? "undetermined";
  }

  control(jobId: string, action: JobAction): Promise<void> {
    return call(() => this.#b.control(jobId, ACTIONS[action]));
  }

  /** control(), synchronously, for process exit; returns the failure instead of throwing. */
  controlSync(jobId: string, action: JobAction): string | undefined {
    return this.#closed ? "session closed" : this.#b.controlSync(jobId, ACTIONS[action]);
  }

  /** Wait at most `timeoutS` seconds for the job to end (DrmaaError DRMAA_ERRNO_EXIT_TIMEOUT if not). */
  wait(jobId: string, timeoutS: number): Promise<JobExit> {
    return call(() => this.#b.wait(jobId, Math.max(0, Math.round(timeoutS))));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    open = undefined;
    await call(() => this.#b.exit());
  }
}
