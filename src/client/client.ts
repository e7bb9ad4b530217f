/**
 * The client: submits tasks, tracks their futures, and gathers results straight from the
 * workers that hold them. It keeps the event loop alive only while it waits for something,
 * so a program that is done with its cluster exits without an explicit close().
 */
import { randomUUID } from "node:crypto";
import { connect } from "../comm/connect.js";
import { Rpc } from "../comm/rpc.js";
import { CancelledError, CommClosedError, ConfigError, RemoteTaskError, TimeoutError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { decode, encode } from "../protocol/msgpack.js";
import { Op, type WireError } from "../protocol/ops.js";
import { readSchedulerFile } from "../scheduler/scheduler-file.js";
import type { TaskSpec } from "../scheduler/state.js";
import { Future, type FutureStatus } from "./future.js";

/** Per-task options, given as the last argument of submit() or the third of map(). */
export interface SubmitOptions {
  /** Explicit key (default: function name plus a random id). */
  key?: string;
  /** Worker names or addresses this task may run on. */
  workers?: string[];
  /** With `workers`: run elsewhere when none of those exists. */
  allowOtherWorkers?: boolean;
}

const OPTION_KEYS = new Set(["key", "workers", "allowOtherWorkers"]);

export interface ConnectOptions {
  /** Cluster secret; default from the scheduler file or DASK_MPI_TS_SECRET. */
  secret?: string;
  /** How long to wait for the scheduler (and its file) to be there; default 30 s. */
  timeout?: number;
}

export type ConnectTarget = string | ({ schedulerFile: string } & ConnectOptions) | ({ address: string } & ConnectOptions);

interface KeyState {
  status: FutureStatus;
  error?: WireError;
  /** Futures alive for this key in this client. */
  refs: number;
  waiters: Array<() => void>;
}

const REQUEST_TIMEOUT_MS = 30_000;
const log = () => logger("client");

export class Client {
  readonly id = `Client-${randomUUID()}`;
  readonly schedulerAddress: string;
  #secret: string;
  #scheduler: Rpc;
  #keys = new Map<string, KeyState>();
  #graph: TaskSpec[] = [];
  #flushScheduled = false;
  #workerRpcs = new Map<string, Promise<Rpc>>();
  #closed = false;

  private constructor(address: string, secret: string, rpc: Rpc) {
    this.schedulerAddress = address;
    this.#secret = secret;
    this.#scheduler = rpc;
  }

  /**
   * Connect to a scheduler by address (`"tcp://host:port"`) or scheduler file.
   * @example const client = await Client.connect({ schedulerFile: "sched.json" });
   */
  static async connect(target: ConnectTarget, options: ConnectOptions = {}): Promise<Client> {
    const opts = typeof target === "string" ? { ...options, address: target } : { ...options, ...target };
    const timeout = opts.timeout ?? 30_000;
    const deadline = Date.now() + timeout;
    let lastError: unknown;
    do {
      try {
        let address: string;
        let secret = opts.secret ?? process.env.DASK_MPI_TS_SECRET;
        if ("schedulerFile" in opts) {
          const content = readSchedulerFile(opts.schedulerFile);
          if (!content) throw new CommClosedError(`scheduler file ${opts.schedulerFile} does not exist yet`);
          address = content.address;
          secret = opts.secret ?? content.secret;
        } else {
          address = opts.address;
        }
        if (!secret) throw new ConfigError("no cluster secret: pass { secret }, use a scheduler file, or set DASK_MPI_TS_SECRET");
        return await Client.#open(address, secret, Math.max(1, deadline - Date.now()));
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        lastError = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    } while (Date.now() < deadline);
    throw new TimeoutError(`could not connect to the scheduler within ${timeout} ms: ${describeError(lastError)}`, { cause: lastError });
  }

  static async #open(address: string, secret: string, timeoutMs: number): Promise<Client> {
    const comm = await connect(address, secret, Math.min(timeoutMs, 10_000));
    let client: Client | undefined;
    const rpc = new Rpc(
      comm,
      {
        [Op.keyInMemory]: (m) => client!.#setStatus(m.key as string, "finished"),
        [Op.keyErred]: (m) => client!.#setStatus(m.key as string, "error", m.error as WireError),
        [Op.keyLost]: (m) => client!.#setStatus(m.key as string, "pending"),
        [Op.schedulerClosing]: () => {},
      },
      { holdLoop: "while-busy" },
    );
    client = new Client(address, secret, rpc);
    comm.onClose(() => client!.#lost());
    await rpc.request({ op: Op.registerClient, id: client.id }, REQUEST_TIMEOUT_MS);
    return client;
  }

  // ---- submitting ---------------------------------------------------------------------------

  /**
   * Run `fn(...args)` on a worker. `fn` must be self-contained: it is shipped as source.
   * A trailing plain object whose keys are all SubmitOptions keys, given beyond the function's
   * declared parameters, is taken as options.
   * @example const f = client.submit((a: number, b: number) => a + b, 1, 2, { key: "add-1" });
   */
  submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...rest: [...A] | [...A, SubmitOptions]): Future<Awaited<R>> {
    let args: unknown[] = rest;
    let options: SubmitOptions = {};
    const last = rest[rest.length - 1];
    if (rest.length > fn.length && isOptions(last)) {
      options = last;
      args = rest.slice(0, -1);
    }
    return this.#submit(fn, args, options);
  }

  /** Run `fn(item)` for each item; one future per item. */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T>, options: Omit<SubmitOptions, "key"> = {}): Array<Future<Awaited<R>>> {
    return Array.from(items, (item) => this.#submit(fn, [item], options));
  }

  #submit(fn: (...args: never[]) => unknown, args: unknown[], options: SubmitOptions): Future<never> {
    this.#checkOpen();
    if (typeof fn !== "function") throw new TypeError(`submit needs a function, got ${typeof fn}`);
    if (options.workers !== undefined && !(Array.isArray(options.workers) && options.workers.every((w) => typeof w === "string"))) {
      throw new TypeError(`workers must be a list of worker names or addresses, got ${JSON.stringify(options.workers)}`);
    }
    const key = options.key ?? `${fn.name || "lambda"}-${randomUUID()}`;
    const known = this.#keys.get(key);
    if (!known) this.#keys.set(key, { status: "pending", refs: 0, waiters: [] });
    this.#graph.push({
      key,
      fn: fn.toString(),
      args: encode(args),
      workers: options.workers,
      allowOtherWorkers: options.allowOtherWorkers,
    });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushGraph());
    }
    return this.#future(key);
  }

  #flushGraph(): void {
    this.#flushScheduled = false;
    const tasks = this.#graph;
    this.#graph = [];
    if (tasks.length && !this.#scheduler.closed) this.#scheduler.send({ op: Op.updateGraph, tasks });
  }

  #future(key: string): Future<never> {
    this.#keys.get(key)!.refs++;
    return new Future(key, this);
  }

  // ---- results ------------------------------------------------------------------------------

  /** Status of a key as this client knows it. @internal */
  statusOf(key: string): FutureStatus {
    return this.#keys.get(key)?.status ?? "cancelled";
  }

  /** Wait until the key is finished or erred (or the client closes), at most `timeoutMs`. @internal */
  async waitKey(key: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const ks = this.#keys.get(key);
    if (!ks) throw new CancelledError(`future ${JSON.stringify(key)} was released`);
    if (ks.status !== "pending") return;
    this.#scheduler.hold();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = ks.waiters.indexOf(done);
          if (i >= 0) ks.waiters.splice(i, 1);
          reject(new TimeoutError(`future ${JSON.stringify(key)} not done within ${timeoutMs} ms`));
        }, Math.max(1, deadline - Date.now()));
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        ks.waiters.push(done);
      });
    } finally {
      this.#scheduler.release();
    }
  }

  /** Values of these futures, fetched directly from the workers that hold them. */
  async gather<T>(futures: Array<Future<T>>, options?: { timeout?: number }): Promise<T[]>;
  async gather<T>(future: Future<T>, options?: { timeout?: number }): Promise<T>;
  async gather<T>(futures: Future<T> | Array<Future<T>>, options: { timeout?: number } = {}): Promise<T | T[]> {
    if (!Array.isArray(futures)) return (await this.gather([futures], options))[0]!;
    const timeout = options.timeout ?? 24 * 3600_000;
    const deadline = Date.now() + timeout;
    const keys = [...new Set(futures.map((f) => f.key))];
    const values = new Map<string, unknown>();
    while (values.size < keys.length) {
      this.#checkOpen();
      const todo = keys.filter((k) => !values.has(k));
      await Promise.all(todo.map((k) => this.waitKey(k, Math.max(1, deadline - Date.now()))));
      for (const k of todo) {
        const ks = this.#keys.get(k)!;
        if (ks.status === "error") throw new RemoteTaskError(k, ks.error ?? { name: "Error", message: "unknown error", stack: "" });
        if (ks.status === "cancelled") throw new CancelledError(`future ${JSON.stringify(k)} was cancelled`);
      }
      const fetched = await this.#fetch(todo.filter((k) => this.#keys.get(k)!.status === "finished"));
      for (const [k, v] of fetched) values.set(k, v);
      if (values.size < keys.length) {
        if (Date.now() >= deadline) throw new TimeoutError(`gather did not finish within ${timeout} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return futures.map((f) => values.get(f.key) as T);
  }

  /** Fetch whatever of `keys` can be fetched now; a key whose holder failed is left out. */
  async #fetch(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    if (!keys.length) return out;
    const whoHas = await this.#scheduler.request<Record<string, string[]>>({ op: Op.whoHas, keys }, REQUEST_TIMEOUT_MS);
    const byWorker = new Map<string, string[]>();
    for (const k of keys) {
      const holder = whoHas[k]?.[0];
      if (!holder) continue; // lost meanwhile: the scheduler is recomputing it
      byWorker.set(holder, [...(byWorker.get(holder) ?? []), k]);
    }
    await Promise.all(
      [...byWorker].map(async ([worker, ks]) => {
        try {
          const rpc = await this.#worker(worker);
          const data = await rpc.request<Record<string, Uint8Array>>({ op: Op.getData, keys: ks }, REQUEST_TIMEOUT_MS);
          for (const k of ks) out.set(k, decode(data[k]!));
        } catch (err) {
          log().debug({ worker, err: describeError(err) }, "gather from worker failed; will retry");
        }
      }),
    );
    return out;
  }

  #worker(address: string): Promise<Rpc> {
    let p = this.#workerRpcs.get(address);
    if (!p) {
      p = connect(address, this.#secret, 10_000).then((comm) => {
        const rpc = new Rpc(comm, {}, { holdLoop: "while-busy" });
        comm.onClose(() => this.#workerRpcs.delete(address));
        return rpc;
      });
      p.catch(() => this.#workerRpcs.delete(address));
      this.#workerRpcs.set(address, p);
    }
    return p;
  }

  #setStatus(key: string, status: FutureStatus, error?: WireError): void {
    const ks = this.#keys.get(key);
    if (!ks) return;
    ks.status = status;
    ks.error = error;
    if (status !== "pending") for (const w of ks.waiters.splice(0)) w();
  }

  /** Drop one future's hold on its key; the last one releases the key on the cluster. @internal */
  releaseKey(key: string): void {
    const ks = this.#keys.get(key);
    if (!ks || --ks.refs > 0) return;
    this.#keys.delete(key);
    ks.status = "cancelled";
    for (const w of ks.waiters.splice(0)) w();
    if (!this.#scheduler.closed) this.#scheduler.send({ op: Op.releaseKeys, keys: [key] });
  }

  // ---- cluster ------------------------------------------------------------------------------

  /** Scheduler address and the workers it knows, keyed by worker address. */
  schedulerInfo(): Promise<{ address: string; id: string; workers: Record<string, WorkerSummary> }> {
    this.#checkOpen();
    return this.#scheduler.request({ op: Op.identity }, REQUEST_TIMEOUT_MS);
  }

  /** Wait until at least `n` workers are connected. */
  async waitForWorkers(n: number, options: { timeout?: number } = {}): Promise<void> {
    const timeout = options.timeout ?? 60_000;
    const deadline = Date.now() + timeout;
    let have = 0;
    while (Date.now() < deadline) {
      have = Object.keys((await this.schedulerInfo()).workers).length;
      if (have >= n) return;
      this.#scheduler.hold();
      await new Promise((r) => setTimeout(r, 25));
      this.#scheduler.release();
    }
    throw new TimeoutError(`only ${have} of ${n} workers arrived within ${timeout} ms`);
  }

  /** Close the scheduler and all its workers (launchers then exit 0), then this client. */
  async shutdown(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#scheduler.request({ op: Op.shutdown }, 20_000);
    } catch (err) {
      if (!(err instanceof CommClosedError)) throw err;
    }
    await this.close();
  }

  /** Disconnect this client; its keys are released on the cluster. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flushGraph();
    this.#closed = true;
    this.#scheduler.close("client closed");
    for (const p of this.#workerRpcs.values()) p.then((r) => r.close("client closed"), () => {});
    this.#workerRpcs.clear();
    this.#lost();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #lost(): void {
    this.#closed = true;
    for (const [key, ks] of this.#keys) {
      if (ks.status === "pending") ks.status = "cancelled";
      for (const w of ks.waiters.splice(0)) w();
      if (ks.status === "cancelled") this.#keys.delete(key);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new CommClosedError(`client ${this.id} is closed`);
  }
}

export interface WorkerSummary {
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
  pid: number;
  processing: number;
  inMemory: number;
  metrics: Record<string, unknown>;
}

function isOptions(v: unknown): v is SubmitOptions {
  if (typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => OPTION_KEYS.has(k));
}
