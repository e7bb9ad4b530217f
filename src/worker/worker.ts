/**
 * A worker: the I/O shell around WorkerState. Registers with the scheduler, runs tasks on its
 * thread pool, fetches dependencies straight from the peers that hold them, and serves its
 * results to clients and peers from its own authenticated listener. Its main thread only
 * moves bytes; user values are decoded on task threads and clients.
 *
 * Its parts: the state machine (state-machine.ts: events in, instructions out, sizes only),
 * the data store (data-store.ts: the values, LRU order, spill and read-back), the op handlers
 * (handlers.ts); this file connects them to the scheduler, the peers, the threads and timers.
 */
import { hostname } from "node:os";
import { type CommOptions, DEFAULT_COMM, connect, listen } from "../comm/connect.js";
import { type TlsContext, loadTls } from "../comm/tls.js";
import { RemoteError, Rpc, byFrame } from "../comm/rpc.js";
import type { Comm, Listener } from "../comm/types.js";
import { CommClosedError, ConfigError, TimeoutError, describeError, frameTooLarge } from "../errors.js";
import { readSchedulerFile } from "../comm/scheduler-file.js";
import { type Checkpointed, InOrder, withCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { logger } from "../log.js";
import { keyedMap } from "../protocol/messages.js";
import { type PluginSpec, pluginResult, samePlugin } from "../protocol/messages-plugins.js";
import { checkGetDataReply } from "../protocol/messages-peer.js";
import { Op, toWireError } from "../protocol/ops.js";
import type { Status } from "../status.js";
import { TaskPool } from "./executor.js";
import type { TaskThreadSettings } from "../protocol/task-context.js";
import { collectGarbageAtMost } from "./gc.js";
import { DEFAULT_THRESHOLDS, type MemoryThresholds, PacedCheck, memoryState } from "./memory.js";
import { versions } from "../version.js";
import { WorkerState, type WorkerEvent, type WorkerInstruction } from "./state-machine.js";
import { spillParent } from "./spill.js";
import { DataStore, type Found, type Held, type Stored, storedBytes } from "./data-store.js";
import { type WorkerHost, peerHandlers, schedulerHandlers } from "./handlers.js";
import { TransferLog } from "./transfers.js";
import { WORKER_DEFAULTS, type WorkerOptions } from "./options.js";
import { MAX_TIMER_MS, type Retirement, retirement } from "./retirement.js";

const log = () => logger("worker");
const RETRY_MS = 250;
/** Tasks handed to the pool per thread at once; the pool batches them to threads. */
const SLOTS_PER_THREAD = 64;
/** A peer's reply to get-data or put-data may take this long. */
const PEER_TIMEOUT_MS = 30_000;
/** A failed fetch is reported this much later: no busy loop of placements when a holder refuses connections. */
const FAILED_FETCH_PAUSE_MS = 250;
/** A scheduler that does not answer a heartbeat for this long is taken to be gone. */
const SCHEDULER_SILENCE_MS = 15_000;
/** Above pause, garbage is collected at most this often (a full collection of every thread). */
const COLLECT_EVERY_MS = 1000;

export class Worker {
  status: Status = "init";
  address = "";
  readonly name: string;
  readonly nthreads: number;
  readonly state: WorkerState<Stored>;
  /** Bytes this worker sent to and received from peers and clients, for tests and metrics. */
  readonly bytes = { sentToPeers: 0, receivedFromPeers: 0 };
  #opts: WorkerOptions;
  #pool: TaskPool | undefined;
  #tls: TlsContext | undefined;
  #lastCpu: { us: number; at: number } | undefined;
  /** The scheduler connected to last, and the secret of its cluster (a file may change them). */
  #schedulerAddress: string;
  #secret: string;
  #listener: Listener | undefined;
  #scheduler: Rpc | undefined;
  #peers = new Map<string, Promise<Rpc>>();
  /** task functions by the number the scheduler gave them */
  #functions = new Map<number, unknown>();
  /** worker plugins by name, in registration order (every pool sets them up); `ok`: its last setup here did not fail */
  #plugins = new Map<string, { spec: PluginSpec; ok: boolean }>();
  /** the values held here (the state machine knows their sizes) */
  #store: DataStore;
  #inOrder = new InOrder();
  /** dependency fetches, until the task they were for reports them (task stream) */
  #transfers = new TransferLog();
  /** what the op handlers (handlers.ts) may use */
  #host: WorkerHost;
  #heartbeat: NodeJS.Timeout | undefined;
  /** how often the scheduler asks its workers to beat (more in a big cluster), as its last heartbeat reply said */
  #schedulerBeatMs = 0;
  #memoryTimer: PacedCheck | undefined;
  #lifetimeTimer: NodeJS.Timeout | undefined;
  /** When it retires (lifetime or its job's walltime), and why */
  #retirement: Retirement | undefined;
  #closed: Promise<string>;
  #resolveClosed!: (reason: string) => void;
  #closeReason = "";
  /** True when close() came from the scheduler or the owner, not from losing the scheduler. */
  cleanExit = true;
  /** It retired for its lifetime (a nanny may start a fresh one), rather than being closed or retiring for its job's end. */
  retired = false;
  /** It was asked to start again (client.restartWorkers): its nanny starts a fresh worker once it has closed. */
  restartRequested = false;

  private constructor(opts: WorkerOptions) {
    if (!opts.schedulerFile && !(opts.schedulerAddress && opts.secret)) {
      throw new ConfigError("a worker needs the scheduler's address and the cluster secret, or a scheduler file");
    }
    this.#opts = opts;
    this.#schedulerAddress = opts.schedulerAddress ?? "";
    this.#secret = opts.secret ?? "";
    this.name = opts.name ?? "";
    this.nthreads = opts.nthreads ?? WORKER_DEFAULTS.nthreads;
    this.state = new WorkerState<Stored>(this.nthreads * SLOTS_PER_THREAD);
    this.#store = new DataStore({
      memoryLimit: opts.memoryLimit ?? 0,
      thresholds: this.#thresholds,
      maxSpillBytes: opts.maxSpillBytes ?? WORKER_DEFAULTS.maxSpillBytes,
    }, (key, err) => {
      log().error({ key, err: describeError(err) }, "a spilled value could not be read back: it is lost here, and computed again if it is needed");
      this.#handle({ type: "data-lost", stimulusId: this.#sid("spill-unreadable"), keys: [key], reason: describeError(err) });
    });
    this.#host = this.#makeHost();
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
  }

  static async start(opts: WorkerOptions): Promise<Worker> {
    const w = new Worker(opts);
    try {
      await w.#start();
    } catch (err) {
      w.cleanExit = false;
      await w.close(describeError(err));
      throw err;
    }
    return w;
  }

  get #thresholds(): MemoryThresholds {
    return { ...DEFAULT_THRESHOLDS, ...this.#opts.memory };
  }

  get #comm(): CommOptions {
    return { ...(this.#opts.comm ?? DEFAULT_COMM), tls: this.#tls };
  }

  /** When a worker without a scheduler gives up (the death timeout from now). */
  #deathDeadline(): number {
    return Date.now() + (this.#opts.deathTimeoutMs ?? WORKER_DEFAULTS.deathTimeoutMs);
  }

  /** Results held here (encoded, or spilled), by key: a read-only view for tests. @internal */
  get data(): ReadonlyMap<string, Held> {
    return this.#store.view;
  }

  /** A new stimulus id for an event the state machine does not name itself (numbered with its events). */
  #sid(what: string): string {
    return this.state.newStimulusId(what);
  }

  /** Hand an event to the state machine and carry out what it asks for. */
  #handle(e: WorkerEvent<Stored>): void {
    this.#do(this.state.handle(e));
  }

  #makeHost(): WorkerHost {
    return {
      state: this.state,
      store: this.#store,
      bytes: this.bytes,
      functions: this.#functions,
      sid: (what) => this.#sid(what),
      handle: (e) => this.#handle(e),
      sendScheduler: (msg) => void (this.#scheduler?.closed === false && this.#scheduler.send(msg)),
      close: (reason) => this.close(reason),
      restartProcess: (reason) => {
        if (!this.#opts.supervised) throw new Error(`worker ${this.name} runs without a nanny (--no-nanny): nothing would start it again; retire it and start another`);
        this.restartRequested = true;
        setImmediate(() => void this.close(reason));
      },
      restart: async () => {
        // forget everything and start from fresh task threads (a stuck task dies with its thread)
        this.#resetData();
        const old = this.#pool;
        this.#pool = this.#newPool();
        await old?.close();
      },
      replicateTo: (target, runs) => this.#replicateTo(target, runs),
      addPlugin: async (p) => {
        const old = this.#plugins.get(p.name);
        if (old?.ok && samePlugin(old.spec, p)) return { ok: true }; // sent again by a scheduler taking over
        const entry = { spec: p, ok: true };
        this.#plugins.set(p.name, entry);
        const r = pluginResult(await this.#pool?.addPlugin(p));
        entry.ok = r.ok;
        return r;
      },
      removePlugin: async (name) => (this.#plugins.delete(name) ? pluginResult(await this.#pool?.removePlugin(name)) : { ok: true }),
      callActor: (call) =>
        new Promise((resolve, reject) => {
          if (!this.#pool) return reject(new Error(`actor ${JSON.stringify(call.key)}: the worker ${this.name} is not running`));
          this.#pool.callActor(call, (r) => (r.ok ? resolve(r.parts) : reject(Object.assign(new Error(r.error.message), { name: r.error.name, stack: r.error.stack }))));
        }),
    };
  }

  /** Resolves with the reason once the worker has closed. */
  get closed(): Promise<string> { return this.#closed; }

  async #start(): Promise<void> {
    this.status = "starting";
    this.#pool = this.#newPool();
    const local = spillParent(this.#opts);
    if (local) this.#store.openSpill(local);
    this.#tls = this.#opts.tls ? loadTls(this.#opts.tls) : undefined;
    const where = { interface: this.#opts.interface, host: this.#opts.host, listenAddress: this.#opts.listenAddress };
    this.#listener = await listen(where, () => this.#secret, (comm) => this.#acceptPeer(comm), this.#comm);
    this.address = this.#opts.contactAddress ?? this.#listener.address;
    await this.#connectScheduler(this.#deathDeadline());
    this.#heartbeat = setTimeout(() => this.#sendHeartbeat(), Math.max(this.#opts.heartbeatMs ?? 1000, this.#schedulerBeatMs)).unref();
    this.#scheduleRetirement();
    const limit = this.#opts.memoryLimit ?? 0;
    // paced: every memoryMonitorMs near a threshold, up to ten times that far below them (idle workers cost less)
    if (limit) this.#memoryTimer = new PacedCheck({ baseMs: this.#opts.memoryMonitorMs ?? WORKER_DEFAULTS.memoryMonitorMs, limit, fractions: () => ((t) => [t.target, t.spill, t.pause, t.terminate])(this.#thresholds), check: () => {
      const rss = process.memoryUsage.rss();
      this.#checkMemory(rss);
      return { bytes: Math.max(rss, this.#store.memoryBytes), ok: !this.state.paused && memoryState(rss, limit, this.#thresholds) === "ok" };
    } });
    this.status = "running";
  }

  /** Connect and register, retrying until the deadline (the scheduler may not be up yet). */
  async #connectScheduler(deadline: number): Promise<void> {
    let lastError: unknown;
    while (Date.now() < deadline && this.status !== "closing" && this.status !== "closed") {
      try {
        const target = this.#target();
        const timeout = Math.max(1, Math.min(this.#comm.connectTimeoutMs, deadline - Date.now()));
        let comm: Comm;
        try {
          comm = await connect(target.address, target.secret, timeout, this.#comm);
        } catch (err) {
          // nothing listening (or answering) there: say that the file may be stale
          if (!(err instanceof CommClosedError || err instanceof TimeoutError) || !this.#opts.schedulerFile) throw err;
          throw new CommClosedError(
            `scheduler file ${this.#opts.schedulerFile} names ${target.address}, which does not answer (${describeError(err)}): a stale file from an earlier run?`,
          );
        }
        this.#schedulerAddress = target.address;
        this.#secret = target.secret;
        // before registering: tasks may arrive with the registration's reply
        this.#pool?.configure(this.#threadSettings());
        comm.useSharedFrames();
        const rpc = this.#schedulerRpc(comm);
        // tasks may arrive in the same frame as the registration's reply, before the await
        // below returns: whatever they send must go out on this connection
        this.#scheduler = rpc;
        // a lifetime counts from the first registration
        this.#retirement ??= retirement(this.#opts, Date.now());
        await rpc.request(
          {
            op: Op.registerWorker,
            address: this.address,
            name: this.name || this.address,
            host: hostname(),
            nthreads: this.nthreads,
            memoryLimit: this.#opts.memoryLimit ?? 0,
            pid: process.pid,
            resources: this.#opts.resources ?? {},
            // relative: the scheduler's clock need not agree with this host's
            ...(this.#retirement ? { retiresIn: Math.max(0, this.#retirement.at - Date.now()) / 1000 } : {}),
            versions: versions(),
            ...(this.state.held.size ? { held: Object.fromEntries(this.state.held) } : {}),
          },
          Math.max(1, deadline - Date.now()),
        );
        comm.onClose((err) => this.#schedulerLost(err.message));
        // info-level news of workers comes from the scheduler ("worker added"), once per cluster
        log().debug({ address: this.address, name: this.name, scheduler: this.#schedulerAddress }, "worker registered");
        return;
      } catch (err) {
        this.#scheduler = undefined;
        // the scheduler answered and said no (name taken, address unreachable): final
        if (err instanceof RemoteError) throw new ConfigError(`the scheduler at ${this.#schedulerAddress} refused this worker: ${err.message}`);
        // a file others can read, or that is no scheduler file: waiting cannot fix it
        if (err instanceof ConfigError) throw err;
        lastError = err;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    throw new TimeoutError(
      `worker could not register with the scheduler ${this.#opts.schedulerFile ? `of ${this.#opts.schedulerFile}` : `at ${this.#schedulerAddress}`} before its death timeout: ${describeError(lastError)}`,
    );
  }

  /** Where the scheduler is now: the given address, or what the scheduler file says. */
  #target(): { address: string; secret: string } {
    const file = this.#opts.schedulerFile;
    if (!file) return { address: this.#schedulerAddress, secret: this.#secret };
    const content = readSchedulerFile(file);
    if (!content) throw new CommClosedError(`scheduler file ${file} does not exist (yet)`);
    return { address: content.address, secret: content.secret };
  }

  #schedulerRpc(comm: Comm): Rpc {
    return new Rpc(comm, schedulerHandlers(this.#host));
  }

  /**
   * Threads, and the scheduler told which task each is running (so it knows who ran when we
   * die). A task that is done before the next write is taken back from that list: a quick task
   * costs no `executing` message at all.
   */
  #newPool(): TaskPool {
    const pool = new TaskPool(
      this.nthreads,
      (key) => {
        const rpc = this.#scheduler;
        if (rpc && !rpc.closed) rpc.sendKey(Op.executing, key);
      },
      (key) => this.#handle({ type: "secede", key }),
      [...this.#plugins.values()].map((p) => p.spec),
    );
    if (this.#schedulerAddress && this.address) pool.configure(this.#threadSettings());
    if (this.#opts.comm?.holdsProcess === false) pool.unref();
    return pool;
  }

  /** What tasks need to connect a client to this worker's scheduler (getClient() in a task). */
  #threadSettings(): TaskThreadSettings {
    return { schedulerAddress: this.#schedulerAddress, secret: this.#secret, tls: this.#opts.tls, workerAddress: this.address, workerName: this.name || this.address, nthreads: this.nthreads };
  }

  /** Carry out what the state machine asked for. */
  #do(instructions: WorkerInstruction<Stored>[]): void {
    for (const ins of instructions) {
      switch (ins.type) {
        case "send": {
          const rpc = this.#scheduler;
          if (rpc && !rpc.closed) rpc.send(ins.msg);
          break;
        }
        case "store":
          this.#store.put(ins.key, ins.value);
          break;
        case "free-data":
          this.#store.delete(ins.keys);
          this.#pool?.dropActors(ins.keys);
          break;
        case "fetch":
          void this.#fetch(ins.worker, ins.id, ins.keys);
          break;
        case "execute": {
          const found = this.#store.values(ins.deps);
          const path = ins.checkpoint;
          this.#inOrder.run<Found | Checkpointed>(
            path === undefined ? found : withCheckpoint(found, path, ins.key),
            (r) => ("found" in r ? this.#checkpointed(ins, r, path!) : this.#execute(ins, r)),
            (err) => this.#handle({ type: "executed", stimulusId: this.#sid("read-back-failed"), key: ins.key, result: { ok: false, error: toWireError(err), durationS: 0 } }),
          );
        }
      }
    }
  }

  /** A checkpointed task: its result from the checkpoint file, else computed and written there. */
  #checkpointed(ins: Extract<WorkerInstruction, { type: "execute" }>, { found, loaded: value, unreadable }: Checkpointed, path: string): void {
    const key = ins.key;
    if (value) {
      log().info({ key, checkpoint: path }, "result loaded from its checkpoint");
      this.#scheduler?.unsendKey(Op.executing, key);
      return this.#handle({ type: "executed", key, result: { ok: true, value, nbytes: storedBytes(value), durationS: 0 } });
    }
    if (unreadable) log().warn({ key, checkpoint: path, err: describeError(unreadable) }, "checkpoint unreadable: computing the result again");
    this.#execute(ins, found, path);
  }

  /** Run a task on the pool with its dependencies' values (and write its checkpoint, if it has one). */
  #execute(ins: Extract<WorkerInstruction, { type: "execute" }>, found: Found, checkpoint?: string): void {
    const key = ins.key;
    const deps = new Map<string, Uint8Array[]>();
    for (const dep of ins.deps) {
      const parts = found.data.get(dep);
      // gone since the task became ready (a spill file that could not be read back: the task was
      // dropped with it, and this result is void); never run without it
      if (parts === undefined) return this.#handle({ type: "executed", key, result: { ok: false, error: toWireError(new Error(`dependency ${JSON.stringify(dep)} was no longer on this worker when the task started`)), durationS: 0 } });
      deps.set(dep, parts);
    }
    const pool = this.#pool!;
    pool.run({ key, fn: ins.fn, args: ins.args, deps }, (r, thread) => {
      if (pool !== this.#pool) return; // a restart replaced the pool and forgot its runs: the key may run again on the new one
      this.#scheduler?.unsendKey(Op.executing, key);
      // events here are numbered by the state machine (executed-17): no id string per task
      const start = r.start ?? Date.now() - r.durationS * 1000;
      const timing = { thread, startstops: [...this.#transfers.take(ins.deps), { action: "compute" as const, start, stop: start + r.durationS * 1000 }] };
      if (r.ok) {
        const value = r.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
        const done = () => this.#handle({ type: "executed", key, result: { ok: true, value, nbytes: storedBytes(value), durationS: r.durationS }, timing });
        // the scheduler hears of the result once its checkpoint is on disk
        if (checkpoint) {
          return void writeCheckpoint(checkpoint, key, value).catch((err) => log().warn({ key, checkpoint, err: describeError(err) }, "could not write the checkpoint")).then(done);
        }
        done();
      } else {
        this.#handle({ type: "executed", key, result: { ok: false, error: r.error, durationS: r.durationS }, timing });
      }
    });
  }

  async #fetch(worker: string, id: number, keys: string[]): Promise<void> {
    try {
      const start = performance.timeOrigin + performance.now(); // sub-ms: a fast fetch still has a duration
      const rpc = await this.#peer(worker);
      const reply = checkGetDataReply(await rpc.request({ op: Op.getData, keys }, PEER_TIMEOUT_MS));
      const got = new Map<string, { nbytes: number; value: Stored }>();
      let total = 0;
      for (let i = 0; i < reply.keys.length; i++) {
        const value = reply.values[i] as Stored;
        const nbytes = storedBytes(value);
        total += nbytes;
        got.set(reply.keys[i]!, { nbytes, value });
      }
      this.bytes.receivedFromPeers += total;
      this.#transfers.record(worker, reply.keys, total, start, performance.timeOrigin + performance.now());
      this.#handle({ type: "fetch-done", worker, id, got, notThere: reply.missing });
    } catch (err) {
      log().debug({ peer: worker, keys: keys.length, err: describeError(err) }, "fetch from peer failed");
      const tooLarge = frameTooLarge(err);
      if (!tooLarge) await new Promise((r) => setTimeout(r, FAILED_FETCH_PAUSE_MS).unref());
      this.#handle({ type: "fetch-failed", worker, id, keys, tooLarge });
    }
  }

  #peer(address: string): Promise<Rpc> {
    let p = this.#peers.get(address);
    if (!p) {
      p = connect(address, this.#secret, this.#comm.connectTimeoutMs, this.#comm).then((comm) => {
        comm.useSharedFrames();
        comm.onClose(() => this.#peers.delete(address));
        return new Rpc(comm, {});
      });
      p.catch(() => this.#peers.delete(address));
      this.#peers.set(address, p);
    }
    return p;
  }

  /** Retirement: hand copies of the keys of `runs` (their values' numbers) to `target` (it stores them and tells the scheduler). */
  async #replicateTo(target: string, runs: Record<string, number>): Promise<string[]> {
    const { data } = await this.#store.values(Object.keys(runs));
    const rpc = await this.#peer(target);
    const { groups, tooBig } = byFrame(Object.fromEntries(data), rpc.comm.share);
    if (tooBig.length) log().warn({ keys: tooBig, target }, "values over the frame cap of the worker taking them cannot move there");
    for (const group of groups) {
      const mine = keyedMap<number>(); // each put-data names the numbers of its own values only
      for (const k in group.data) mine[k] = runs[k]!;
      await rpc.request({ op: Op.putData, data: group.data, runs: mine }, PEER_TIMEOUT_MS, { bytes: group.bytes });
    }
    return groups.flatMap((g) => Object.keys(g.data));
  }

  #schedulerLost(reason: string): void {
    if (this.status === "closing" || this.status === "closed") return;
    log().warn({ reason }, "lost the scheduler; reconnecting until the death timeout");
    this.#scheduler = undefined;
    this.#functions.clear();
    // running work belonged to the old registration: drop it. Results are kept until the death
    // timeout and offered to the scheduler at registration (a journaled one takes them over;
    // any other frees them)
    this.#transfers.clear();
    this.#handle({ type: "reset", keepData: true });
    this.#connectScheduler(this.#deathDeadline()).catch((err) => {
      this.cleanExit = false;
      void this.close(describeError(err));
    });
  }

  /** Pause above the pause threshold, resume below it; above terminate, leave (no nanny). */
  #checkMemory(rss: number): void {
    const limit = this.#opts.memoryLimit ?? 0;
    this.#store.spillIfNeeded(rss);
    const state = memoryState(rss, limit, this.#thresholds);
    // above pause, what is over may be garbage (freed results, a finished task's temporaries):
    // collect, and decide on the next tick's measurement
    if (state !== "ok" && this.#collectGarbage()) return;
    if (state === "terminate" && !this.#opts.supervised) {
      // nobody will restart it: tell the scheduler why it goes (it reschedules the running
      // tasks at once, counting them as suspects), then close and exit non-zero
      const reason = `memory use ${rss} bytes is above the terminate threshold (${this.#thresholds.terminate} of the ${limit}-byte limit), and there is no nanny to restart the worker`;
      const rpc = this.#scheduler;
      if (rpc && !rpc.closed) rpc.send({ op: Op.unregisterWorker, reason });
      this.cleanExit = false;
      void this.close(reason);
      return;
    }
    const paused = state !== "ok";
    if (paused === this.state.paused) return;
    const reason = `memory use ${rss} bytes of a ${limit}-byte limit`;
    log().warn({ rss, limit, reason }, paused ? "pausing: memory above the pause threshold" : "resuming: memory below the pause threshold");
    this.#scheduler?.send({ op: Op.workerStatus, status: paused ? "paused" : "running", reason });
    this.#handle({ type: paused ? "pause" : "resume" });
  }

  /** A collection on this thread and every task thread, unless this process had one within COLLECT_EVERY_MS. */
  #collectGarbage(): boolean {
    if (!collectGarbageAtMost(COLLECT_EVERY_MS)) return false;
    this.#pool?.collectGarbage();
    return true;
  }

  /** Forget all tasks and data, in memory and on disk. */
  #resetData(): void {
    this.#transfers.clear();
    this.#handle({ type: "reset" });
  }

  #sendHeartbeat(): void {
    if (this.status === "closing" || this.status === "closed") return;
    this.#heartbeat = setTimeout(() => this.#sendHeartbeat(), Math.max(this.#opts.heartbeatMs ?? 1000, this.#schedulerBeatMs)).unref();
    const rpc = this.#scheduler;
    if (!rpc || rpc.closed) return;
    const mem = process.memoryUsage();
    // CPU of the whole process (all task threads), as percent of one core since the last beat
    const cpu = process.cpuUsage();
    const now = performance.now();
    const cpuPercent = this.#lastCpu ? (100 * (cpu.user + cpu.system - this.#lastCpu.us)) / (1000 * Math.max(1, now - this.#lastCpu.at)) : 0;
    this.#lastCpu = { us: cpu.user + cpu.system, at: now };
    // a request: the scheduler's reply is its heartbeat to us; a scheduler that stops
    // answering (hung, or its host gone without a TCP reset) counts as lost
    rpc
      .request(
        {
          op: Op.heartbeat,
          metrics: {
            executing: this.state.executing, ready: this.state.readyCount, inMemory: this.#store.size, storedBytes: this.#store.memoryBytes,
            spilledBytes: this.#store.spilledBytes, paused: this.state.paused, rss: mem.rss, cpu: cpuPercent, ...this.bytes,
          },
        },
        SCHEDULER_SILENCE_MS,
      )
      .then((reply) => void (typeof reply?.heartbeatMs === "number" && (this.#schedulerBeatMs = reply.heartbeatMs))) // an older scheduler answers "ok"
      .catch((err) => {
        if (rpc === this.#scheduler && !rpc.closed) rpc.comm.abort(`scheduler did not answer a heartbeat: ${describeError(err)}`);
      });
  }

  #acceptPeer(comm: Comm): void {
    comm.useSharedFrames();
    new Rpc(comm, peerHandlers(this.#host));
  }

  /** Retire at the time #start worked out; a timer can wait at most ~24.8 days, so a later time is reached in steps. */
  #scheduleRetirement(): void {
    const r = this.#retirement;
    if (!r) return;
    const wait = r.at - Date.now();
    this.#lifetimeTimer = wait > MAX_TIMER_MS ? setTimeout(() => this.#scheduleRetirement(), MAX_TIMER_MS) : setTimeout(() => this.retire(r.reason, r), Math.max(0, wait));
  }

  /**
   * Ask the scheduler to retire this worker (it closes us once our results live elsewhere).
   * `restartable`: a nanny told to (--lifetime-restart) starts a fresh worker afterwards; not
   * so for a job's end, where `drainMs` bounds the wait for running tasks (then they are handed
   * over to other workers, before the queue kills the job).
   */
  retire(reason: string, o: { restartable?: boolean; drainMs?: number } = {}): void {
    log().info({ name: this.name, reason }, "retiring");
    this.retired = o.restartable ?? true;
    const rpc = this.#scheduler;
    if (rpc && !rpc.closed) rpc.send({ op: Op.retireWorkers, workers: [this.address], ...(o.drainMs === undefined ? {} : { drainS: o.drainMs / 1000 }) });
    else void this.close(reason);
  }

  /** This process is exiting (its MPI job's end): its scheduler sees it gone now, not when the process is. */
  abort(reason: string): void {
    if (this.status !== "closed") this.status = "closing"; // not a scheduler lost: no reconnecting
    this.#scheduler?.comm.abort(reason);
  }

  /** Stop tasks, close connections and the listener. Idempotent. */
  async close(reason: string): Promise<string> {
    if (this.status === "closing" || this.status === "closed") return this.#closed;
    this.status = "closing";
    this.#closeReason = reason;
    try {
      clearInterval(this.#heartbeat);
      this.#memoryTimer?.stop();
      clearTimeout(this.#lifetimeTimer);
      this.#scheduler?.close(reason);
      for (const p of this.#peers.values()) p.then((r) => r.close(reason), () => {});
      await this.#pool?.close();
      await this.#listener?.close();
      this.#resetData();
      this.#store.close();
    } catch (err) {
      log().warn({ reason, err: describeError(err) }, "error while closing the worker");
    } finally {
      this.status = "closed";
      if (this.cleanExit) log().debug({ name: this.name, reason }, "worker closed");
      else log().error({ name: this.name, reason }, "worker giving up");
      this.#resolveClosed(this.#closeReason);
    }
    return this.#closed;
  }
}
