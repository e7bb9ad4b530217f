/**
 * The native MPI addon: its TS surface (the one place that declares it), the loader, and a
 * thin typed wrapper, {@link Mpi}. Arguments are validated here before they cross into C++;
 * errors from the addon are translated to {@link MpiError} here, in {@link callNative}.
 *
 * Importing this module loads nothing; {@link Mpi.load} (or {@link loadMpi}) does.
 *
 * Collectives never block the JS thread: bcast/barrier start MPI_Ibcast/MPI_Ibarrier and poll
 * MPI_Test from a timer (1 ms at first, backing off to 10 ms), so only MPI_THREAD_FUNNELED is
 * needed and the event loop keeps serving sockets while other ranks are late.
 *
 * @example
 * const mpi = Mpi.load();
 * const { rank } = mpi.init();
 * const record = await mpi.bcast(rank === 0 ? Buffer.from("tcp://10.0.0.1:8786") : null, 0);
 * await mpi.barrier();
 * mpi.finalize();
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AddonLoadError, MpiError, TimeoutError, describeError } from "../errors.js";
import { checkWorldMatchesLauncher, detectLauncher } from "../deploy/launcher-env.js";

// ---- the native surface (native/addon.cc, native/request.cc) --------------------------------

/** One outstanding MPI_Ibcast / MPI_Ibarrier (native/request.cc). */
interface NativeRequest {
  /** undefined while pending; the received bytes once done (empty for a barrier). */
  test(): Buffer | undefined;
  /** Blocks the JS thread polling MPI_Test with short sleeps; false when timeoutMs passed. */
  waitFor(timeoutMs: number): boolean;
  readonly done: boolean;
}

/** What the native init() reports (see MpiInitInfo for the meaning of each field). */
interface NativeInitInfo {
  /** MPI had been initialised by the host program before init() (not by this wrapper). */
  alreadyInitialized: boolean;
  /** The thread level MPI provided (MPI_THREAD_FUNNELED was requested). */
  threadLevel: number;
  rank: number;
  size: number;
  /** Rank and size among the ranks sharing this node (MPI_COMM_TYPE_SHARED). */
  localRank: number;
  localSize: number;
  processorName: string;
}

export interface NativeAddon {
  readonly threadLevels: { single: number; funneled: number; serialized: number; multiple: number };
  /** Largest payload of one bcast (the fixed frame size; see native/request.h). */
  readonly bcastMaxBytes: number;
  init(requestedThreadLevel: number): NativeInitInfo;
  libraryVersion(): string;
  initialized(): boolean;
  finalized(): boolean;
  markInheritedFdsCloexec(): number;
  /** maxBytes: frame size, the same on every rank; channel 0 = MPI_COMM_WORLD, 1 = the private signal communicator. */
  ibcast(data: Buffer | null, root: number, maxBytes: number, channel: 0 | 1): NativeRequest;
  ibarrier(): NativeRequest;
  abort(code: number): never;
  finalize(): void;
  /** Open MPI's yield-when-idle, set to `on` when given; null when the MPI is not Open MPI. */
  openMpiYield(on?: boolean): boolean | null;
}

/** Fields the addon puts on the errors it throws for a failed MPI call (native/mpi-error.cc). */
interface NativeMpiError extends Error {
  mpiFunction: string;
  mpiClass: number;
  mpiClassName: string;
  mpiString: string;
  rank: number;
}

function isNativeMpiError(err: unknown): err is NativeMpiError {
  return err instanceof Error && typeof (err as Partial<NativeMpiError>).mpiClass === "number";
}

/**
 * The MpiError for an error thrown by the addon, e.g.
 * `MPI_Ibcast failed on rank 2: MPI_ERR_ROOT: invalid root (class 8)`.
 * Open MPI's strings repeat the class name and MPICH's carry an error stack after the first
 * line; the message keeps one short phrase, mpiString keeps MPI's full text.
 */
export function toMpiError(err: NativeMpiError): MpiError {
  let phrase = (err.mpiString.split("\n")[0] ?? "").replace(/, error stack:\s*$/, "").trim();
  if (phrase.startsWith(`${err.mpiClassName}:`)) phrase = phrase.slice(err.mpiClassName.length + 1).trim();
  const message = `${err.mpiFunction} failed on rank ${err.rank}: ${err.mpiClassName}: ${phrase || "no error string"} (class ${err.mpiClass})`;
  return new MpiError(message, { mpiClass: err.mpiClass, mpiString: err.mpiString, rank: err.rank }, { cause: err });
}

/**
 * Runs one native call; the single place where native MPI errors become MpiError. Exported for
 * code (and tests) that drive the native layer directly.
 */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw isNativeMpiError(err) ? toMpiError(err) : err;
  }
}

// ---- argument validation (before anything crosses into C++) ---------------------------------

export function validateRoot(root: unknown, size: number): number {
  if (typeof root !== "number" || !Number.isInteger(root) || root < 0 || root >= size) {
    throw new RangeError(`root must be an integer in [0, ${size}), got ${describeValue(root)}`);
  }
  return root;
}

export function validateExitCode(code: unknown): number {
  if (typeof code !== "number" || !Number.isInteger(code) || code < 0 || code > 255) {
    throw new RangeError(`abort code must be an integer from 0 to 255, got ${describeValue(code)}`);
  }
  return code;
}

export function validateTimeout(timeoutMs: unknown, name = "timeoutMs"): number {
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${describeValue(timeoutMs)}`);
  }
  return timeoutMs;
}

/** The bytes to broadcast from the root, as a Buffer view (no copy). */
export interface BcastOptions {
  /** Frame size in bytes, the same on every rank (default and limit: bcastMaxBytes, 1 MiB). */
  maxBytes?: number;
  /** "world" (default) or "signal", a private duplicate of the world. */
  channel?: "world" | "signal";
}

export function validateMaxBytes(maxBytes: unknown, limit: number): number {
  if (typeof maxBytes !== "number" || !Number.isInteger(maxBytes) || maxBytes < 0 || maxBytes > limit) {
    throw new RangeError(`bcast maxBytes must be an integer from 0 to ${limit}, got ${String(maxBytes)}`);
  }
  return maxBytes;
}

export function validateBcastData(data: unknown, isRoot: boolean, root: number, maxBytes: number): Buffer | null {
  if (!isRoot) return null;
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`bcast data must be a Uint8Array on the root rank ${root}, got ${describeValue(data)}`);
  }
  if (data.byteLength > maxBytes) {
    throw new RangeError(`bcast data must be at most ${maxBytes} bytes, got ${data.byteLength}`);
  }
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return Object.prototype.toString.call(v).slice(8, -1).toLowerCase();
}

// ---- the loader -------------------------------------------------------------------------------

const ADDON_FILE = "dask_mpi_ts.node";
const BUILD_HINT =
  "build it with `npm run build:addon` (needs MPI: apt-get install openmpi-bin libopenmpi-dev), " +
  "or set DASK_MPI_TS_ADDON to the path of a built dask_mpi_ts.node";

/** The package root: the nearest directory upwards holding dask-mpi-ts's package.json. */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "dask-mpi-ts") return dir;
    } catch {
      // no (readable) package.json here
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the dask-mpi-ts package root above ${from}`);
  }
}

/**
 * The paths the loader tries, in order. An override (opts.addonPath, else env
 * DASK_MPI_TS_ADDON) is tried alone: falling back to another build would hide a wrong override
 * (and an addon for the wrong MPI only shows up later, as a world of 1).
 */
export function addonCandidates(opts: { addonPath?: string } = {}, env: Record<string, string | undefined> = process.env): string[] {
  const override = opts.addonPath ?? (env.DASK_MPI_TS_ADDON || undefined);
  if (override) return [path.resolve(override)];
  const root = packageRoot();
  return [
    path.join(root, "build", "Release", ADDON_FILE), // cmake-js (default), or `node-gyp rebuild` in the root
    path.join(root, "build", "gyp", "Release", ADDON_FILE), // scripts/build-addon.mjs --gyp
  ];
}

const require = createRequire(import.meta.url);

/** Loads the addon from the first candidate that loads; AddonLoadError lists all failures. */
export function loadNativeAddon(opts: { addonPath?: string } = {}): { addon: NativeAddon; path: string } {
  // MPICH (ch4:ucx) and Open MPI over UCX: UCX's library constructor patches brk/mmap, which
  // crashes Node at random (~2% of processes). Must be in the environment before the dlopen.
  if (process.env.UCX_MEM_EVENTS === undefined) process.env.UCX_MEM_EVENTS = "no";
  const candidates = addonCandidates(opts);
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) {
      failures.push(`${candidate}: not found (ENOENT)`);
      continue;
    }
    try {
      return { addon: require(candidate) as NativeAddon, path: candidate };
    } catch (err) {
      failures.push(`${candidate}: ${describeError(err).split("\n")[0]}`);
    }
  }
  throw new AddonLoadError(
    `cannot load the native MPI addon; tried:\n  ${failures.join("\n  ")}\n${BUILD_HINT}`,
    candidates,
  );
}

// ---- the wrapper ----------------------------------------------------------------------------

/** What {@link Mpi.init} found out about this process's MPI world. */
export interface MpiInitInfo extends NativeInitInfo {
  /** MPI_Get_library_version, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...". */
  libraryVersion: string;
}

/** An outstanding collective started by {@link Mpi.startBcast} or {@link Mpi.startBarrier}. */
export interface MpiRequest {
  /** Non-blocking: undefined while pending; the bytes once done (empty Buffer for a barrier). */
  test(): Buffer | undefined;
  /**
   * Blocks the JS thread up to timeoutMs, for process 'exit' handlers where no async work can
   * run. Returns as test() does; undefined on timeout (the request stays outstanding).
   */
  waitSync(timeoutMs: number): Buffer | undefined;
  readonly done: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const FIRST_POLL_MS = 1;
const MAX_POLL_MS = 10;

class Request implements MpiRequest {
  constructor(
    private readonly native: NativeRequest,
    private readonly onDone: (r: Request) => void,
  ) {}

  test(): Buffer | undefined {
    const result = callNative(() => this.native.test());
    if (result !== undefined) this.onDone(this);
    return result;
  }

  waitSync(timeoutMs: number): Buffer | undefined {
    validateTimeout(timeoutMs);
    return callNative(() => this.native.waitFor(timeoutMs)) ? this.test() : undefined;
  }

  get done(): boolean {
    return this.native.done;
  }
}

/**
 * MPI for this process: one world, MPI_COMM_WORLD, with MPI_ERRORS_RETURN so that every failure
 * comes back as an {@link MpiError}.
 */
export class Mpi {
  private static readonly loaded = new Map<string, Mpi>();
  private info: MpiInitInfo | undefined;
  // Strong references to outstanding requests: MPI may still write into their buffers, so they
  // must not be collected early (the addon parks collected ones, but better not to rely on it).
  private readonly outstanding = new Set<Request>();

  private constructor(
    private readonly native: NativeAddon,
    /** The .node file this MPI was loaded from. */
    readonly addonPath: string,
  ) {}

  /**
   * Loads the addon (once per path; cached). Tries opts.addonPath, else env DASK_MPI_TS_ADDON,
   * else build/Release/dask_mpi_ts.node and build/gyp/Release/dask_mpi_ts.node in the package.
   * @throws AddonLoadError listing every path tried, each with its error, and how to build.
   */
  static load(opts: { addonPath?: string } = {}): Mpi {
    const { addon, path: where } = loadNativeAddon(opts);
    let mpi = Mpi.loaded.get(where);
    if (!mpi) {
      mpi = new Mpi(addon, where);
      Mpi.loaded.set(where, mpi);
    }
    return mpi;
  }

  /** MPI_Get_library_version; available before init(). */
  get libraryVersion(): string {
    return callNative(() => this.native.libraryVersion());
  }

  /** Largest bcast payload in bytes (1 MiB). */
  get bcastMaxBytes(): number {
    return this.native.bcastMaxBytes;
  }

  /**
   * Initialises MPI (MPI_Init_thread, MPI_THREAD_FUNNELED) unless the host program did already,
   * sets MPI_ERRORS_RETURN, and checks MPI's world against the launcher's environment.
   * Collective: every rank must call it. Idempotent.
   * @throws ConfigError when the launcher started N ranks but MPI sees a different world (an
   *   addon built for another MPI); MpiError when an MPI call fails.
   */
  init(): MpiInitInfo {
    if (this.info) return this.info;
    // Open MPI, oversubscribed (more ranks than cores, as on a laptop or a shared node), makes
    // every MPI_Test yield the CPU: the end-signal poll of each rank (mpi/job.ts, 8 tests every
    // 20 ms) then froze the scheduler's and workers' event loops for ~24 ms at a time under
    // load (p50 per poll 24 ms against 37 us without yielding, 2 cores at load 14). Nothing here
    // waits inside MPI (waits poll and sleep in between), so yielding buys nothing once MPI is
    // up. During MPI_Init it does: ranks that spin there starve the launcher's own processes,
    // and 4 ranks on 2 cores took ~80 ms longer to start (baseline 470-530 against 400-420 ms).
    // So Open MPI keeps its choice for MPI_Init, and yielding is switched off right after. A
    // value the user set wins; an Open MPI without the switch is told at MPI_Init instead.
    const userYield = process.env.OMPI_MCA_mpi_yield_when_idle !== undefined;
    // an addon built before the switch existed (DASK_MPI_TS_ADDON) has no openMpiYield
    const canSwitch = !userYield && typeof this.native.openMpiYield === "function" && this.native.openMpiYield() !== null;
    if (!userYield && !canSwitch) process.env.OMPI_MCA_mpi_yield_when_idle = "0";
    const n = callNative(() => this.native.init(this.native.threadLevels.funneled));
    if (canSwitch) this.native.openMpiYield(false);
    const info: MpiInitInfo = { ...n, libraryVersion: this.libraryVersion };
    try {
      checkWorldMatchesLauncher({ size: info.size, libraryVersion: info.libraryVersion, addonPath: this.addonPath }, detectLauncher());
    } catch (err) {
      // A singleton's MPI_Finalize is local: end it cleanly (Open MPI's singleton runs a helper
      // daemon). A larger mismatched world could hang in the collective finalize: leave it.
      if (info.size === 1) callNative(() => this.native.finalize());
      throw err;
    }
    this.info = info;
    return info;
  }

  private get world(): MpiInitInfo {
    if (!this.info) throw new Error("mpi is not initialized: call init() first");
    return this.info;
  }

  get rank(): number {
    return this.world.rank;
  }
  get size(): number {
    return this.world.size;
  }
  get localRank(): number {
    return this.world.localRank;
  }
  get localSize(): number {
    return this.world.localSize;
  }

  get initialized(): boolean {
    return callNative(() => this.native.initialized());
  }
  get finalized(): boolean {
    return callNative(() => this.native.finalized());
  }

  /**
   * Starts a broadcast of up to `maxBytes` (default and limit {@link bcastMaxBytes}) bytes from
   * `root` (data required there, ignored elsewhere). Every rank must pass the same `maxBytes`
   * and `channel`, and start its collectives on a channel in the same order. `channel:
   * "signal"` uses a private duplicate of the world, so a long-outstanding signal (e.g. "the
   * client rank ended") never interleaves with the program's own collectives.
   */
  startBcast(data: Uint8Array | null, root: number, opts: BcastOptions = {}): MpiRequest {
    const world = this.world;
    validateRoot(root, world.size);
    const maxBytes = validateMaxBytes(opts.maxBytes ?? this.native.bcastMaxBytes, this.native.bcastMaxBytes);
    const bytes = validateBcastData(data, world.rank === root, root, maxBytes);
    const channel = opts.channel === "signal" ? 1 : 0;
    return this.track(callNative(() => this.native.ibcast(bytes, root, maxBytes, channel)));
  }

  /** Starts a barrier (MPI_Ibarrier). */
  startBarrier(): MpiRequest {
    this.world; // throws before init
    return this.track(callNative(() => this.native.ibarrier()));
  }

  /**
   * Broadcasts bytes from `root` to every rank without blocking the event loop.
   * @param opts.timeoutMs deadline, default 60 000 ms; past it a TimeoutError (the MPI request
   *   itself cannot be cancelled and stays outstanding).
   */
  bcast(data: Uint8Array | null, root: number, opts: BcastOptions & { timeoutMs?: number } = {}): Promise<Buffer> {
    const timeoutMs = validateTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, "bcast timeoutMs");
    const request = this.startBcast(data, root, opts);
    return poll(request, timeoutMs, `bcast from root ${root}`);
  }

  /** A barrier across all ranks without blocking the event loop; timeoutMs as for bcast. */
  async barrier(opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = validateTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, "barrier timeoutMs");
    await poll(this.startBarrier(), timeoutMs, "barrier");
  }

  /**
   * Ends the whole job: MPI_Abort on MPI_COMM_WORLD, so the launcher exits with `code` on every
   * launcher. Without an active MPI (not initialised, or finalised), process.exit(code).
   */
  abort(code: number): never {
    validateExitCode(code);
    if (this.initialized && !this.finalized) callNative(() => this.native.abort(code));
    process.exit(code);
  }

  /** MPI_Finalize; idempotent, and a no-op when MPI was never initialised. */
  finalize(): void {
    callNative(() => this.native.finalize());
  }

  /**
   * Marks every inherited descriptor above 2 close-on-exec, so child processes do not hold
   * the launcher's sockets (launchers wait for every holder). Needs no MPI; returns how many.
   */
  markInheritedFdsCloexec(): number {
    return callNative(() => this.native.markInheritedFdsCloexec());
  }

  /**
   * Whether Open MPI's progress loop gives up the CPU when idle (off once init() is done, unless
   * OMPI_MCA_mpi_yield_when_idle was set); null under another MPI.
   */
  get yieldsWhenIdle(): boolean | null {
    return typeof this.native.openMpiYield === "function" ? this.native.openMpiYield() : null;
  }

  /** Outstanding requests started here and not yet seen done. */
  get pendingRequests(): number {
    return this.outstanding.size;
  }

  private track(native: NativeRequest): Request {
    const r = new Request(native, (done) => this.outstanding.delete(done));
    this.outstanding.add(r);
    return r;
  }
}

/** Polls a request from a timer: 1 ms at first, doubling to 10 ms. The timer is work: kept ref'd. */
function poll(request: MpiRequest, timeoutMs: number, what: string): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  return new Promise<Buffer>((resolve, reject) => {
    let delay = FIRST_POLL_MS;
    const step = (): void => {
      let result: Buffer | undefined;
      try {
        result = request.test();
      } catch (err) {
        reject(err);
        return;
      }
      if (result !== undefined) return resolve(result);
      if (Date.now() >= deadline) return reject(new TimeoutError(`mpi ${what} did not complete within ${timeoutMs} ms`));
      setTimeout(step, delay);
      delay = Math.min(MAX_POLL_MS, delay * 2);
    };
    step();
  });
}

/** Loads the MPI addon; see {@link Mpi.load}. */
export function loadMpi(opts: { addonPath?: string } = {}): Mpi {
  return Mpi.load(opts);
}
