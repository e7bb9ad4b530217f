/**
 * The nanny: supervises one worker in a child process and restarts it when it crashes.
 *
 * The child gets its options (including the secret) over IPC, never on its command line, and
 * the environment its launcher gives (`childEnv`: deploy takes the MPI launcher's variables
 * out, since a child that saw them would try to join the MPI job and hang it). The child exits when the IPC channel closes, so it never
 * outlives the nanny; stopping it escalates: ask, SIGTERM, SIGKILL, and always reap.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { WorkerDiedError, describeError } from "../errors.js";
import { currentLogSettings, logger } from "../log.js";
import type { Status } from "../status.js";
import { NANNY_DEFAULTS, type NannyOptions } from "./options.js";
import { type NannyMessage, type WorkerToNanny, parseWorkerToNanny } from "../protocol/messages-nanny.js";
import { DEFAULT_THRESHOLDS, PacedCheck, memoryState, residentBytes } from "../worker/memory.js";
import { spillParent } from "../worker/spill.js";
import { WORKER_DEFAULTS } from "../worker/options.js";
import { purgeDeadWorkerDirectories } from "../worker/local-directory.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./worker-process.js", import.meta.url));
const log = () => logger("nanny");
/** Resolves when a child has exited, made at fork time so that no exit can be missed. */
const exits = new WeakMap<ChildProcess, Promise<void>>();

export class Nanny {
  status: Status = "init";
  /** Address of the current worker child. */
  workerAddress = "";
  #opts: NannyOptions;
  #child: ChildProcess | undefined;
  #restarts: number[] = [];
  #memoryTimer: PacedCheck | undefined;
  #closed: Promise<{ ok: boolean; reason: string }>;
  #resolveClosed!: (r: { ok: boolean; reason: string }) => void;

  private constructor(opts: NannyOptions) {
    this.#opts = opts;
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
  }

  static async start(opts: NannyOptions): Promise<Nanny> {
    const n = new Nanny({ ...opts, worker: { ...opts.worker, supervised: true } });
    n.status = "starting";
    await n.#spawn();
    n.status = "running";
    const limit = opts.worker.memoryLimit ?? 0;
    // paced as the worker's own (worker/memory.ts): every interval near the terminate threshold, up to ten far below it
    if (limit > 0) {
      const baseMs = opts.worker.memoryMonitorMs ?? WORKER_DEFAULTS.memoryMonitorMs;
      const terminate = { ...DEFAULT_THRESHOLDS, ...opts.worker.memory }.terminate;
      n.#memoryTimer = new PacedCheck({ baseMs, limit, fractions: () => [terminate], check: () => ((bytes) => (bytes === undefined ? undefined : { bytes, ok: true }))(n.#checkMemory(limit)) });
    }
    return n;
  }

  /** The worker's memory above its terminate threshold: kill it, to be restarted fresh. Its resident bytes, unless it was killed or there is none. */
  #checkMemory(limit: number): number | undefined {
    const child = this.#child;
    if (!child?.pid || this.status !== "running") return undefined;
    const rss = residentBytes(child.pid);
    if (rss === undefined) return undefined;
    if (memoryState(rss, limit, { ...DEFAULT_THRESHOLDS, ...this.#opts.worker.memory }) !== "terminate") return rss;
    log().warn({ rss, limit, reason: "memory above the terminate threshold" }, "restarting worker");
    child.kill("SIGKILL");
    return undefined;
  }

  /** Resolves when supervision ends: ok when the worker closed on request. */
  get closed(): Promise<{ ok: boolean; reason: string }> {
    return this.#closed;
  }

  /** PID of the current child, for tests and process trees. */
  get childPid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Start a worker child now, before its options are known (the MPI bootstrap is still
   * running), so that its start-up overlaps MPI_Init; hand it to start() as `child`.
   * Forking before MPI_Init also keeps every trace of MPI out of the child.
   */
  static prefork(env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = fork(CHILD_SCRIPT, [], { env, stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
    // a send to a child that just died fails with EPIPE; its exit is handled where it matters
    child.on("error", () => {});
    exits.set(child, new Promise((r) => child.once("exit", () => r())));
    return child;
  }

  #spawn(): Promise<void> {
    let child = this.#opts.child;
    if (!child) {
      this.#opts.beforeFork?.();
      child = Nanny.prefork(this.#opts.childEnv);
    }
    this.#opts.child = undefined;
    this.#child = child;
    const holds = this.#opts.holdsProcess ?? true;
    if (!holds) {
      child.unref();
      child.channel?.unref();
    }
    let closedOnPurpose: { ok: boolean; reason: string } | undefined;
    /** why a fresh worker follows this one's clean exit (a lifetime restart, or client.restartWorkers), if one does */
    let startAgain: string | undefined;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new WorkerDiedError(`worker process did not start within ${this.#opts.startTimeoutMs ?? 60_000} ms`, { exitCode: null, signal: "SIGKILL" }));
      }, this.#opts.startTimeoutMs ?? 60_000);
      if (!holds) timer.unref();
      child.on("message", (raw: unknown) => {
        let m: WorkerToNanny;
        try {
          m = parseWorkerToNanny(raw);
        } catch (err) {
          // a malformed message ends this channel only: the child, left alone, closes (a crash)
          log().error({ err: describeError(err) }, "malformed message from the worker child; disconnecting it");
          if (child.connected) child.disconnect();
          return;
        }
        if (m.type === "ready") {
          started = true;
          clearTimeout(timer);
          this.workerAddress = m.address;
          resolve();
        } else if (m.type === "closing") {
          closedOnPurpose = { ok: m.clean, reason: m.reason };
          if (((m.retired && this.#opts.restartAfterRetire) || m.restart) && this.status === "running") startAgain = m.restart ? "restart requested" : "lifetime restart";
        } else if (m.type === "start-failed" && !started) {
          clearTimeout(timer);
          closedOnPurpose = { ok: false, reason: m.reason };
          reject(new WorkerDiedError(`worker failed to start: ${m.reason}`, { exitCode: null, signal: null }));
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        // a worker that died did not remove its spill directory
        const local = spillParent(this.#opts.worker);
        if (local) purgeDeadWorkerDirectories(local);
        if (this.#child === child) this.#child = undefined;
        if (!started) {
          if (closedOnPurpose || this.status === "closing") {
            // it said why it could not start (or we are closing): that is final
            reject(new WorkerDiedError(`worker process exited during start-up (code ${code}, signal ${signal})`, { exitCode: code, signal }));
            this.#finish(closedOnPurpose ?? { ok: false, reason: `worker exited during start-up (code ${code}, signal ${signal})` });
          } else {
            // killed while starting (it may already have registered): a crash like any other
            this.#restart(code, signal).then(resolve, reject);
          }
          return;
        }
        if (startAgain) {
          log().info({ reason: startAgain }, "starting a fresh worker");
          this.#spawn().catch((err) => this.#finish({ ok: false, reason: String(err?.message ?? err) }));
          return;
        }
        if (closedOnPurpose || this.status === "closing") {
          this.#finish(closedOnPurpose ?? { ok: true, reason: "nanny closed" });
          return;
        }
        this.#restart(code, signal).catch(() => {}); // giving up is reported through `closed`
      });
      const logFields = { ...currentLogSettings(), ...this.#opts.log };
      child.send({ type: "start", options: this.#opts.worker, log: logFields } satisfies NannyMessage, () => {});
    });
  }

  /** Start a new child after a crash, within the crash-loop bound; resolves when it is ready. */
  #restart(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const now = Date.now();
    const window = this.#opts.restartWindowMs ?? NANNY_DEFAULTS.restartWindowMs;
    this.#restarts = this.#restarts.filter((t) => now - t < window);
    if (this.#restarts.length >= (this.#opts.maxRestarts ?? NANNY_DEFAULTS.maxRestarts)) {
      const reason = `worker died ${this.#restarts.length + 1} times within ${window} ms (last: code ${code}, signal ${signal}); not restarting`;
      log().error({ reason }, "nanny giving up");
      this.#finish({ ok: false, reason });
      return Promise.reject(new WorkerDiedError(reason, { exitCode: code, signal }));
    }
    this.#restarts.push(now);
    log().warn({ code, signal, reason: "worker process died" }, "restarting worker");
    const ready = this.#spawn();
    ready.catch((err) => this.#finish({ ok: false, reason: String(err?.message ?? err) }));
    return ready;
  }

  #finish(r: { ok: boolean; reason: string }): void {
    if (this.status === "closed") return;
    this.status = "closed";
    this.#memoryTimer?.stop();
    this.#resolveClosed(r);
  }

  /** Stop the worker: ask it, then SIGTERM, then SIGKILL; resolves once it is reaped. */
  async close(reason: string, timeoutMs = 5000): Promise<void> {
    if (this.status === "closed") return;
    this.status = "closing";
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.#finish({ ok: true, reason });
      return;
    }
    const exited = exits.get(child)!;
    const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    if (child.connected) child.send({ type: "close", reason } satisfies NannyMessage, () => {});
    if (!(await within(timeoutMs))) {
      child.kill("SIGTERM");
      if (!(await within(2000))) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    this.#finish({ ok: true, reason });
  }

  /** Synchronous last resort (signal handlers, process exit): kill the child now. */
  killNow(): void {
    this.status = "closing";
    this.#child?.kill("SIGKILL");
  }
}
