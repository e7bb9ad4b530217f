/**
 * A worker: the I/O shell around WorkerState. Registers with the scheduler, runs tasks on its
 * thread pool, fetches dependencies straight from the peers that hold them, and serves its
 * results to clients and peers from its own authenticated listener. Its main thread only
 * moves bytes; user values are decoded on task threads and clients.
 */
import { hostname } from "node:os";
import { type CommOptions, DEFAULT_COMM, connect, listen } from "../comm/connect.js";
import { type TlsContext, loadTls } from "../comm/tls.js";
import { RemoteError, Rpc } from "../comm/rpc.js";
import type { Comm, Listener } from "../comm/types.js";
import type { Message } from "../protocol/messages.js";
import { CommClosedError, ConfigError, ProtocolError, TimeoutError, describeError } from "../errors.js";
import { readSchedulerFile } from "../comm/scheduler-file.js";
import { logger } from "../log.js";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { Op, toWireError } from "../protocol/ops.js";
import type { Status } from "../status.js";
import { TaskPool } from "./executor.js";
import { collectGarbageAtMost } from "./gc.js";
import { DEFAULT_THRESHOLDS, type MemoryThresholds, memoryState } from "./memory.js";
import { versions } from "../version.js";
import { resolveTaskFunction } from "../protocol/functions.js";
import { type ComputeTask, type Held, type Stored, WorkerState, type WorkerInstruction, storedBytes } from "./state-machine.js";
import { SpillDirectory, Spilled, spillParent } from "./spill.js";
import { WORKER_DEFAULTS, type WorkerOptions } from "./options.js";

const log = () => logger("worker");
const RETRY_MS = 250;
/** Tasks handed to the pool per thread at once; the pool batches them to threads. */
const SLOTS_PER_THREAD = 64;
/** A peer's reply to get-data or put-data may take this long. */
const PEER_TIMEOUT_MS = 30_000;
/** A scheduler that does not answer a heartbeat for this long is taken to be gone. */
const SCHEDULER_SILENCE_MS = 15_000;
/** Above pause, garbage is collected at most this often (a full collection of every thread). */
const COLLECT_EVERY_MS = 1000;

export class Worker {
  status: Status = "init";
  address = "";
  readonly name: string;
  readonly nthreads: number;
  readonly state: WorkerState;
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
  #heartbeat: NodeJS.Timeout | undefined;
  #memoryTimer: NodeJS.Timeout | undefined;
  #lifetimeTimer: NodeJS.Timeout | undefined;
  #spill: SpillDirectory | undefined;
  /** Spilled values being read back, by key. */
  #readingBack = new Map<string, Promise<Stored | undefined>>();
  #closed: Promise<string>;
  #resolveClosed!: (reason: string) => void;
  #closeReason = "";
  /** True when close() came from the scheduler or the owner, not from losing the scheduler. */
  cleanExit = true;
  /** It retired (lifetime), rather than being closed. */
  retired = false;

  private constructor(opts: WorkerOptions) {
    if (!opts.schedulerFile && !(opts.schedulerAddress && opts.secret)) {
      throw new ConfigError("a worker needs the scheduler's address and the cluster secret, or a scheduler file");
    }
    this.#opts = opts;
    this.#schedulerAddress = opts.schedulerAddress ?? "";
    this.#secret = opts.secret ?? "";
    this.name = opts.name ?? "";
    this.nthreads = opts.nthreads ?? WORKER_DEFAULTS.nthreads;
    this.state = new WorkerState(this.nthreads * SLOTS_PER_THREAD);
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

  /** Results held here (encoded, or spilled), by key. */
  get data(): Map<string, Held> {
    return this.state.data;
  }

  /**
   * Held values' bytes by key (marked as recently used), and the keys not held. Synchronous
   * unless some are spilled: those are read back from disk without blocking the event loop
   * (and are in memory again). Tasks, peers and clients all take values through here.
   */
  #values(keys: Iterable<string>): Found | Promise<Found> {
    const found: Found = { data: {}, missing: [] };
    const reads: Promise<void>[] = [];
    for (const k of keys) {
      this.#touch(k);
      const v = this.state.data.get(k);
      if (v instanceof Spilled) {
        reads.push(this.#readBack(k, v).then((stored) => void (stored ? (found.data[k] = stored) : found.missing.push(k))));
      } else if (v) {
        found.data[k] = v as Stored;
      } else {
        found.missing.push(k);
      }
    }
    return reads.length ? Promise.all(reads).then(() => found) : found;
  }

  /**
   * A spilled value back from its file into memory; concurrent requests share one read. A
   * key freed while it was being read reads as missing.
   */
  #readBack(key: string, spilled: Spilled): Promise<Stored | undefined> {
    let reading = this.#readingBack.get(key);
    if (!reading) {
      const stillHeld = () => this.state.data.get(key) === spilled;
      reading = this.#spill!.read(spilled)
        .then(
          (value) => {
            if (!stillHeld()) return undefined;
            this.#spill!.remove(spilled);
            this.state.data.set(key, value); // same key: keeps its place in the order
            return value;
          },
          (err) => {
            if (!stillHeld()) return undefined; // its file went with it
            throw err;
          },
        )
        .finally(() => this.#readingBack.delete(key));
      this.#readingBack.set(key, reading);
    }
    return reading;
  }

  /** Mark as recently used: the data map's order is the spilling order (oldest first). */
  #touch(key: string): void {
    const v = this.state.data.get(key);
    if (v === undefined) return;
    this.state.data.delete(key);
    this.state.data.set(key, v);
  }

  /**
   * Move least-recently-used results to disk: while managed bytes are above `target`, and,
   * while the process's memory is above `spill`, as many bytes as it is over; never past
   * `maxSpillBytes` on disk. Runs on the memory monitor's tick (it walks all results: not per
   * task).
   */
  #spillIfNeeded(rss: number): void {
    const spill = this.#spill;
    const limit = this.#opts.memoryLimit ?? 0;
    if (!spill || !(limit > 0)) return;
    const t = this.#thresholds;
    let managed = 0;
    for (const v of this.state.data.values()) if (!(v instanceof Spilled)) managed += storedBytes(v);
    let toFree = 0;
    if (t.target !== false) toFree = Math.max(toFree, managed - t.target * limit);
    if (t.spill !== false) toFree = Math.max(toFree, rss - t.spill * limit);
    if (toFree <= 0) return;
    const maxSpill = this.#opts.maxSpillBytes ?? WORKER_DEFAULTS.maxSpillBytes;
    for (const [key, v] of this.state.data) {
      if (toFree <= 0) break;
      if (v instanceof Spilled) continue;
      if (maxSpill !== false && spill.bytes + storedBytes(v) > maxSpill) break;
      const s = spill.write(key, v as Stored);
      this.state.data.set(key, s); // same key: keeps its place in the order
      toFree -= s.nbytes;
    }
  }

  /** Drop files of keys that are being freed. */
  #unspill(keys: Iterable<string>): void {
    for (const k of keys) {
      const v = this.state.data.get(k);
      if (v instanceof Spilled) this.#spill?.remove(v);
    }
  }

  /** Resolves with the reason once the worker has closed. */
  get closed(): Promise<string> {
    return this.#closed;
  }

  async #start(): Promise<void> {
    this.status = "starting";
    this.#pool = this.#newPool();
    const local = spillParent(this.#opts);
    if (local) this.#spill = new SpillDirectory(local);
    this.#tls = this.#opts.tls ? loadTls(this.#opts.tls) : undefined;
    const where = { interface: this.#opts.interface, host: this.#opts.host, listenAddress: this.#opts.listenAddress };
    this.#listener = await listen(where, () => this.#secret, (comm) => this.#acceptPeer(comm), this.#comm);
    this.address = this.#opts.contactAddress ?? this.#listener.address;
    await this.#connectScheduler(this.#deathDeadline());
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#opts.heartbeatMs ?? 1000).unref();
    if (this.#opts.lifetimeMs) {
      const stagger = this.#opts.lifetimeStaggerMs ?? 0;
      const after = Math.max(0, this.#opts.lifetimeMs + (Math.random() * 2 - 1) * stagger);
      this.#lifetimeTimer = setTimeout(() => this.retire(`lifetime of ${this.#opts.lifetimeMs} ms reached`), after);
    }
    if (this.#opts.memoryLimit) {
      this.#memoryTimer = setInterval(() => this.#checkMemory(), this.#opts.memoryMonitorMs ?? WORKER_DEFAULTS.memoryMonitorMs).unref();
    }
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
        comm.useSharedFrames();
        const rpc = this.#schedulerRpc(comm);
        // tasks may arrive in the same frame as the registration's reply, before the await
        // below returns: whatever they send must go out on this connection
        this.#scheduler = rpc;
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
            versions: versions(),
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
    return new Rpc(comm, {
      [Op.computeTask]: (m) => {
        // functions come once per connection, then by number
        if (m.fnDef !== undefined) this.#functions.set(m.fn as number, m.fnDef);
        const fn = this.#functions.get(m.fn as number);
        if (fn === undefined) throw new ProtocolError(`compute-task names function ${String(m.fn)}, which was never sent`);
        this.#do(this.state.computeTask(parseComputeTask(m, fn)));
      },
      [Op.freeKeys]: (m) => {
        this.#unspill(m.keys as string[]);
        this.#do(this.state.freeKeys(m.keys as string[]));
      },
      [Op.closeWorker]: (m) => void this.close(`scheduler asked: ${String(m.reason ?? "")}`),
      [Op.schedulerClosing]: () => {},
      [Op.run]: (m) => this.#runHere(m),
      [Op.replicateTo]: (m) => this.#replicateTo(m.target as string, m.keys as string[]),
      [Op.restart]: async () => {
        // forget everything and start from fresh task threads (a stuck task dies with its thread)
        this.#resetData();
        const old = this.#pool;
        this.#pool = this.#newPool();
        await old?.close();
        return "ok";
      },
    });
  }

  /**
   * Threads, and the scheduler told which task each is running (so it knows who ran when we
   * die). A task that is done before the next write is taken back from that list: a quick task
   * costs no `executing` message at all.
   */
  #newPool(): TaskPool {
    return new TaskPool(this.nthreads, (key) => {
      const rpc = this.#scheduler;
      if (rpc && !rpc.closed) rpc.sendKey(Op.executing, key);
    });
  }

  /** Carry out what the state machine asked for. */
  #do(instructions: WorkerInstruction[]): void {
    for (const ins of instructions) {
      if (ins.type === "send") {
        const rpc = this.#scheduler;
        if (rpc && !rpc.closed) rpc.send(ins.msg);
      } else if (ins.type === "fetch") {
        void this.#fetch(ins.worker, ins.keys);
      } else {
        const found = this.#values(Object.keys(ins.deps));
        if (found instanceof Promise) {
          found.then(
            (f) => this.#execute(ins, f),
            (err) => this.#do(this.state.executed(ins.key, { ok: false, error: toWireError(err), durationS: 0 })),
          );
        } else {
          this.#execute(ins, found);
        }
      }
    }
  }

  /** Run a task on the pool with its dependencies' values. */
  #execute(ins: Extract<WorkerInstruction, { type: "execute" }>, found: Found): void {
    const key = ins.key;
    const deps: Record<string, Uint8Array[]> = {};
    for (const dep of Object.keys(ins.deps)) deps[dep] = (found.data[dep] ?? []).map(exact);
    this.#pool!.run({ key, fn: ins.fn, args: ins.args.map(exact), deps }, (r) => {
      this.#scheduler?.unsendKey(Op.executing, key);
      if (r.ok) {
        const value = r.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
        this.#do(this.state.executed(key, { ok: true, value, durationS: r.durationS }));
      } else {
        this.#do(this.state.executed(key, { ok: false, error: r.error, durationS: r.durationS }));
      }
    });
  }

  async #fetch(worker: string, keys: string[]): Promise<void> {
    try {
      const rpc = await this.#peer(worker);
      const reply = await rpc.request<{ data: Record<string, Stored>; missing: string[] }>({ op: Op.getData, keys }, PEER_TIMEOUT_MS);
      for (const v of Object.values(reply.data)) this.bytes.receivedFromPeers += storedBytes(v);
      this.#do(this.state.fetchDone(worker, reply.data, reply.missing));
    } catch (err) {
      log().debug({ peer: worker, keys: keys.length, err: describeError(err) }, "fetch from peer failed");
      this.#do(this.state.fetchFailed(worker, keys));
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

  /** client.run(): a function on this worker's main thread, with its arguments. */
  async #runHere(m: Message): Promise<Buffer[]> {
    const fn = await resolveTaskFunction(m.fn);
    const parts = m.args as Buffer[];
    const args = decodeWithRaws(parts[0]!, parts.slice(1)) as unknown[];
    const value = await fn(...args);
    const { head, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.result);
    return [head, ...raws.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))];
  }

  /** Retirement: hand copies of `keys` to `target` (it stores them and tells the scheduler). */
  async #replicateTo(target: string, keys: string[]): Promise<string[]> {
    const { data } = await this.#values(keys);
    const rpc = await this.#peer(target);
    await rpc.request({ op: Op.putData, data, report: true }, PEER_TIMEOUT_MS);
    return Object.keys(data);
  }

  #schedulerLost(reason: string): void {
    if (this.status === "closing" || this.status === "closed") return;
    log().warn({ reason }, "lost the scheduler; reconnecting until the death timeout");
    this.#scheduler = undefined;
    this.#functions.clear();
    // results and running work belonged to the old registration: the scheduler has
    // rescheduled them, so start clean
    this.#resetData();
    this.#connectScheduler(this.#deathDeadline()).catch((err) => {
      this.cleanExit = false;
      void this.close(describeError(err));
    });
  }

  /** Pause above the pause threshold, resume below it; above terminate, leave (no nanny). */
  #checkMemory(): void {
    const limit = this.#opts.memoryLimit ?? 0;
    const rss = process.memoryUsage.rss();
    this.#spillIfNeeded(rss);
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
    this.#do(this.state.setPaused(paused));
  }

  /** A collection on this thread and every task thread, unless this process had one within COLLECT_EVERY_MS. */
  #collectGarbage(): boolean {
    if (!collectGarbageAtMost(COLLECT_EVERY_MS)) return false;
    this.#pool?.collectGarbage();
    return true;
  }

  /** Forget all data, in memory and on disk. */
  #resetData(): void {
    this.#unspill(this.state.data.keys());
    this.state.reset();
  }

  #sendHeartbeat(): void {
    const rpc = this.#scheduler;
    if (!rpc || rpc.closed) return;
    const mem = process.memoryUsage();
    // CPU of the whole process (all task threads), as percent of one core since the last beat
    const cpu = process.cpuUsage();
    const now = performance.now();
    const cpuPercent = this.#lastCpu ? (100 * (cpu.user + cpu.system - this.#lastCpu.us)) / (1000 * Math.max(1, now - this.#lastCpu.at)) : 0;
    this.#lastCpu = { us: cpu.user + cpu.system, at: now };
    let stored = 0;
    for (const v of this.state.data.values()) if (!(v instanceof Spilled)) stored += storedBytes(v);
    // a request: the scheduler's reply is its heartbeat to us; a scheduler that stops
    // answering (hung, or its host gone without a TCP reset) counts as lost
    rpc
      .request(
        {
          op: Op.heartbeat,
          metrics: {
            executing: this.state.executing,
            ready: this.state.readyCount,
            inMemory: this.state.data.size,
            storedBytes: stored,
            spilledBytes: this.#spill?.bytes ?? 0,
            paused: this.state.paused,
            rss: mem.rss,
            cpu: cpuPercent,
            ...this.bytes,
          },
        },
        SCHEDULER_SILENCE_MS,
      )
      .catch((err) => {
        if (rpc === this.#scheduler && !rpc.closed) rpc.comm.abort(`scheduler did not answer a heartbeat: ${describeError(err)}`);
      });
  }

  #acceptPeer(comm: Comm): void {
    comm.useSharedFrames();
    new Rpc(comm, {
      [Op.getData]: (m: Message) => {
        const keys = m.keys;
        if (!Array.isArray(keys)) throw new ProtocolError("get-data: keys must be a list");
        const reply = (found: Found): Found => {
          for (const v of Object.values(found.data)) this.bytes.sentToPeers += storedBytes(v);
          return found;
        };
        const found = this.#values(keys as string[]);
        return found instanceof Promise ? found.then(reply) : reply(found);
      },
      [Op.putData]: (m: Message) => {
        const data = m.data as Record<string, Stored>;
        if (typeof data !== "object" || data === null) throw new ProtocolError("put-data: data must be a map");
        const keys = Object.keys(data);
        for (const k of keys) {
          this.bytes.receivedFromPeers += storedBytes(data[k]!);
          this.state.putData(k, data[k]!);
        }
        // replication: the scheduler learns of the new copies from us
        if (m.report) this.#scheduler?.send({ op: Op.addReplica, keys });
        return { nbytes: Object.fromEntries(keys.map((k) => [k, storedBytes(data[k]!)])) };
      },
    });
  }

  /** Ask the scheduler to retire this worker (it closes us once our results live elsewhere). */
  retire(reason: string): void {
    log().info({ name: this.name, reason }, "retiring");
    this.retired = true;
    const rpc = this.#scheduler;
    if (rpc && !rpc.closed) rpc.send({ op: Op.retireWorkers, workers: [this.address] });
    else void this.close(reason);
  }

  /** Stop tasks, close connections and the listener. Idempotent. */
  async close(reason: string): Promise<string> {
    if (this.status === "closing" || this.status === "closed") return this.#closed;
    this.status = "closing";
    this.#closeReason = reason;
    try {
      clearInterval(this.#heartbeat);
      clearInterval(this.#memoryTimer);
      clearTimeout(this.#lifetimeTimer);
      this.#scheduler?.close(reason);
      for (const p of this.#peers.values()) p.then((r) => r.close(reason), () => {});
      await this.#pool?.close();
      await this.#listener?.close();
      this.#spill?.close();
      this.#resetData();
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

/** Values a worker holds, by key, and the keys it does not hold. */
interface Found {
  data: Record<string, Stored>;
  missing: string[];
}

function parseComputeTask(m: Message, fn: unknown): ComputeTask {
  if (typeof m.key !== "string" || !Array.isArray(m.args) || typeof m.whoHas !== "object" || m.whoHas === null) {
    throw new ProtocolError("compute-task needs a string key, args parts and whoHas");
  }
  return { key: m.key, fn, args: m.args as Buffer[], whoHas: m.whoHas as Record<string, string[]>, priority: Number(m.priority ?? 0) };
}

/**
 * The bytes in a buffer of their own. Values decoded off a socket are views into the whole
 * frame, and postMessage clones a view's entire ArrayBuffer: without this, every task sent to
 * a thread would copy its message's whole frame. Big frames are in shared memory, which
 * postMessage shares instead.
 */
function exact(b: Uint8Array): Uint8Array {
  // shared memory is shared, not copied, by postMessage: pass it as it is
  if (b.buffer instanceof SharedArrayBuffer) return b;
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

