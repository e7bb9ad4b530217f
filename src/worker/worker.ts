/**
 * A worker: registers with the scheduler, runs tasks on its thread pool, keeps results
 * (encoded) and serves them to clients and peers from its own authenticated listener.
 * Its main thread only moves bytes; user values are decoded on task threads and clients.
 */
import { hostname } from "node:os";
import { connect, serve } from "../comm/connect.js";
import { formatAddress } from "../comm/address.js";
import { chooseHost } from "../comm/interfaces.js";
import { Rpc } from "../comm/rpc.js";
import type { Comm, Message, TcpListener } from "../comm/tcp.js";
import { ProtocolError, TimeoutError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { Op } from "../protocol/ops.js";
import type { Status } from "../status.js";
import { TaskPool } from "./executor.js";

export interface WorkerOptions {
  schedulerAddress: string;
  secret: string;
  name?: string;
  nthreads?: number;
  /** Bytes; 0 = no limit (enforced by a later issue). */
  memoryLimit?: number;
  interface?: string;
  host?: string;
  /** Give up after this long without a scheduler (default 60 s). */
  deathTimeoutMs?: number;
  heartbeatMs?: number;
}

const log = () => logger("worker");
const RETRY_MS = 250;

interface Queued {
  key: string;
  fn: string;
  args: Uint8Array;
}

export class Worker {
  status: Status = "init";
  address = "";
  readonly name: string;
  readonly nthreads: number;
  readonly data = new Map<string, Buffer>();
  #opts: WorkerOptions;
  #pool: TaskPool | undefined;
  #listener: TcpListener | undefined;
  #scheduler: Rpc | undefined;
  #ready: Queued[] = [];
  #executing = new Set<string>();
  #heartbeat: NodeJS.Timeout | undefined;
  #closed: Promise<string>;
  #resolveClosed!: (reason: string) => void;
  #closeReason = "";
  /** True when close() came from the scheduler or the owner, not from losing the scheduler. */
  cleanExit = true;

  private constructor(opts: WorkerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? "";
    this.nthreads = opts.nthreads ?? 1;
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

  /** Resolves with the reason once the worker has closed. */
  get closed(): Promise<string> {
    return this.#closed;
  }

  async #start(): Promise<void> {
    this.status = "starting";
    this.#pool = new TaskPool(this.nthreads);
    const { bind, advertise } = chooseHost(this.#opts);
    this.#listener = await serve(bind, 0, this.#opts.secret, (comm) => this.#acceptPeer(comm));
    this.address = formatAddress(advertise, this.#listener.port);
    await this.#connectScheduler(Date.now() + (this.#opts.deathTimeoutMs ?? 60_000));
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#opts.heartbeatMs ?? 1000).unref();
    this.status = "running";
  }

  /** Connect and register, retrying until the deadline (the scheduler may not be up yet). */
  async #connectScheduler(deadline: number): Promise<void> {
    let lastError: unknown;
    while (Date.now() < deadline && this.status !== "closing" && this.status !== "closed") {
      try {
        const comm = await connect(this.#opts.schedulerAddress, this.#opts.secret, Math.max(1, Math.min(5000, deadline - Date.now())));
        const rpc = this.#schedulerRpc(comm);
        await rpc.request(
          {
            op: Op.registerWorker,
            address: this.address,
            name: this.name || this.address,
            host: hostname(),
            nthreads: this.nthreads,
            memoryLimit: this.#opts.memoryLimit ?? 0,
            pid: process.pid,
          },
          Math.max(1, deadline - Date.now()),
        );
        this.#scheduler = rpc;
        comm.onClose((err) => this.#schedulerLost(err.message));
        // info-level news of workers comes from the scheduler ("worker added"), once per cluster
        log().debug({ address: this.address, name: this.name, scheduler: this.#opts.schedulerAddress }, "worker registered");
        return;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    throw new TimeoutError(
      `worker could not register with the scheduler at ${this.#opts.schedulerAddress} before its death timeout: ${describeError(lastError)}`,
    );
  }

  #schedulerRpc(comm: Comm): Rpc {
    return new Rpc(comm, {
      [Op.computeTask]: (m) => {
        const key = m.key;
        if (typeof key !== "string" || typeof m.fn !== "string" || !(m.args instanceof Uint8Array)) {
          throw new ProtocolError("compute-task needs a string key, a string fn and binary args");
        }
        this.#ready.push({ key, fn: m.fn, args: m.args });
        this.#drain();
      },
      [Op.freeKeys]: (m) => {
        for (const key of m.keys as string[]) {
          this.data.delete(key);
          this.#executing.delete(key);
          const i = this.#ready.findIndex((q) => q.key === key);
          if (i >= 0) this.#ready.splice(i, 1);
        }
      },
      [Op.closeWorker]: (m) => void this.close(`scheduler asked: ${String(m.reason ?? "")}`),
      [Op.schedulerClosing]: () => {},
    });
  }

  #schedulerLost(reason: string): void {
    if (this.status === "closing" || this.status === "closed") return;
    log().warn({ reason }, "lost the scheduler; reconnecting until the death timeout");
    this.#scheduler = undefined;
    // results and running work belonged to the old registration: the scheduler has
    // rescheduled them, so start clean
    this.data.clear();
    this.#ready = [];
    this.#executing.clear();
    this.#connectScheduler(Date.now() + (this.#opts.deathTimeoutMs ?? 60_000)).catch((err) => {
      this.cleanExit = false;
      void this.close(describeError(err));
    });
  }

  #drain(): void {
    while (this.#ready.length > 0 && this.#executing.size < this.nthreads && this.#pool) {
      const task = this.#ready.shift()!;
      this.#executing.add(task.key);
      void this.#pool.run(task.fn, task.args).then((res) => {
        const rpc = this.#scheduler;
        if (!this.#executing.delete(task.key) || !rpc || rpc.closed) {
          this.#drain();
          return; // freed or rescheduled while running
        }
        if (res.ok) {
          const bytes = Buffer.from(res.bytes.buffer, res.bytes.byteOffset, res.bytes.byteLength);
          this.data.set(task.key, bytes);
          rpc.send({ op: Op.taskFinished, key: task.key, nbytes: bytes.length });
        } else {
          rpc.send({ op: Op.taskErred, key: task.key, error: res.error });
        }
        this.#drain();
      });
    }
  }

  #sendHeartbeat(): void {
    const rpc = this.#scheduler;
    if (!rpc || rpc.closed) return;
    const mem = process.memoryUsage();
    rpc.send({
      op: Op.heartbeat,
      metrics: { executing: this.#executing.size, ready: this.#ready.length, inMemory: this.data.size, rss: mem.rss },
    });
  }

  #acceptPeer(comm: Comm): void {
    new Rpc(comm, {
      [Op.getData]: (m: Message) => {
        const keys = m.keys;
        if (!Array.isArray(keys)) throw new ProtocolError("get-data: keys must be a list");
        const out: Record<string, Buffer> = {};
        const missing: string[] = [];
        for (const k of keys as string[]) {
          const v = this.data.get(k);
          if (v) out[k] = v;
          else missing.push(k);
        }
        if (missing.length) throw new Error(`worker ${this.address} does not hold ${missing.map((k) => JSON.stringify(k)).join(", ")}`);
        return out;
      },
    });
  }

  /** Stop tasks, close connections and the listener. Idempotent. */
  async close(reason: string): Promise<string> {
    if (this.status === "closing" || this.status === "closed") return this.#closed;
    this.status = "closing";
    this.#closeReason = reason;
    try {
      clearInterval(this.#heartbeat);
      this.#scheduler?.close(reason);
      await this.#pool?.close();
      await this.#listener?.close();
      this.data.clear();
    } catch (err) {
      log().warn({ reason, err: describeError(err) }, "error while closing the worker");
    } finally {
      this.status = "closed";
      log().debug({ name: this.name, reason }, "worker closed");
      this.#resolveClosed(this.#closeReason);
    }
    return this.#closed;
  }
}
