/**
 * The client: submits tasks and graphs, tracks their futures, scatters data straight to
 * workers and gathers results straight from the workers that hold them. It keeps the event
 * loop alive only while it waits for something, so a program that is done with its cluster
 * exits without an explicit close().
 */
import { randomUUID } from "node:crypto";
import { DEFAULT_COMM, connect } from "../comm/connect.js";
import type { TlsContext } from "../comm/tls.js";
import type { Comm } from "../comm/types.js";
import { Rpc, checkFits, type RequestOptions } from "../comm/rpc.js";
import { CommClosedError, type SchedulerLostError, TimeoutError, describeError } from "../errors.js";
import { type LogRecord, logger } from "../log.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { Sent, copyRaws, encodeWithRaws, registerKeyRefClass } from "../protocol/msgpack.js";
import { Op } from "../protocol/ops.js";
import type { FailedWorkerInfo, Message, TaskSpec } from "../protocol/messages.js";
import type { Versions } from "../version.js";
import { checkVersions } from "./versions.js";
import { SUBMIT_OPTION_KEYS, describeValue, splitMapArguments, splitTrailingOptions, zipIterables } from "./arguments.js";
import { FunctionTable, type WireFunction } from "../protocol/functions.js";
import { schedulerLostError } from "./scheduler-lost.js";
import { type ConnectPlan, connectTo } from "./connect-target.js";
import { openLink, relink, resume } from "./scheduler-link.js";
import { type GatherHost, gatherValues } from "./fetch.js";
import { type Gathered, gatherStructure } from "./gather-structure.js";
import { scatterValues } from "./scatter.js";
import { type RunHost, runOnScheduler, runOnWorkers } from "./run.js";
import { type LogsOptions, type WorkerLogsOptions, schedulerLogs, workerLogs } from "./logs.js";
import * as datasets from "./datasets.js";
import * as locality from "./locality.js";
import * as plugins from "./plugins.js";
import { restartWorkers } from "./restart-workers.js";
import type { PluginOptions, WorkerPlugin } from "./plugins.js";
import { type TaskStreamOptions, type TaskStreamRecord, getTaskStream } from "./task-stream.js";
import { type JupyterOptions, type JupyterServer, startJupyter } from "./jupyter.js";
import { Future, type FutureHost } from "./future.js";
import { checkTimeout, within } from "./timeout.js";
import { GraphOutbox } from "./graph-outbox.js";
import { dependenciesFirst } from "./graph-message.js";
import { type Actor, actorHost } from "./actor.js";
import type { ActorHost } from "../protocol/actor-ref.js";
import { type KeyState, KeyTable, failure, settle, settled } from "./key-table.js";
import { type ArgsOf, type ConnectOptions, type ConnectTarget, type GatherOptions, KeyRef, type MapArgs, type MapOptions, type ScatterOptions, type SubmitOptions, type WorkerSummary, checkFuture, checkKey, checkOptions, checkScatterOptions, checkWorkerList, gatherSkips, randomToken, taskKey, tokenize } from "./submit-options.js";

export type { Gathered } from "./gather-structure.js";
export type { LogsOptions, WorkerLogsOptions } from "./logs.js";
export type { LogRecord } from "../log.js";
export { type ConnectOptions, type ConnectTarget, type Futurable, type GatherOptions, KeyRef, ref, type MapOptions, type ScatterOptions, type SubmitOptions, type WorkerSummary } from "./submit-options.js";

registerKeyRefClass(Future, (f) => f.key);
registerKeyRefClass(KeyRef, (r) => r.key);

const REQUEST_TIMEOUT_MS = 30_000;
/** The task options a TaskSpec carries, when given. */
const SPEC_OPTIONS = ["workers", "allowOtherWorkers", "priority", "retries", "resources", "checkpoint"] as const satisfies ReadonlyArray<keyof SubmitOptions & keyof TaskSpec>;
const log = () => logger("client");

export class Client implements FutureHost {
  readonly id = `Client-${randomUUID()}`;
  /** Where the scheduler is (a scheduler that took over may be elsewhere). */
  schedulerAddress: string;
  /** The scheduler's dashboard (`http://host:8787/status`), when it runs one. */
  dashboardLink: string | undefined;
  #secret: string;
  #tls: TlsContext | undefined;
  #scheduler!: Rpc;
  #keys = new KeyTable();
  #workerRpcs = new Map<string, Promise<Rpc>>();
  #functions = new FunctionTable();
  #closed = false;
  #plan: ConnectPlan;
  /** Why the scheduler said it was closing (scheduler-closing), if it did. */
  #closingReason: string | undefined;
  /** Since when the scheduler is gone (connection lost without close()). */
  #lostSince: number | undefined;
  /** While reconnecting: settles once linked to the scheduler taking over, or given up. */
  #relinking: Promise<void> | undefined;
  /** What pending futures and later calls reject with once the scheduler is given up. */
  #lostError: SchedulerLostError | undefined;

  private constructor(address: string, secret: string, plan: ConnectPlan) {
    this.#tls = plan.tls;
    this.#plan = plan;
    this.schedulerAddress = address;
    this.#secret = secret;
  }

  /**
   * Connect to a scheduler by address (`"tcp://host:port"`), scheduler file, or cluster object.
   * @example const client = await Client.connect({ schedulerFile: "sched.json" });
   */
  static connect(target: ConnectTarget, options: ConnectOptions = {}): Promise<Client> {
    return connectTo(target, options, (address, secret, msLeft, plan) => Client.#open(address, secret, msLeft, plan));
  }

  static async #open(address: string, secret: string, timeoutMs: number, plan: ConnectPlan): Promise<Client> {
    const client = new Client(address, secret, plan);
    const { rpc, services } = await openLink(address, secret, timeoutMs, plan, client.#link);
    client.#scheduler = rpc;
    client.dashboardLink = services?.dashboard;
    return client;
  }

  /** What the scheduler's connection (client/scheduler-link.ts) tells this client. */
  readonly #link = {
    id: this.id,
    keys: this.#keys,
    graphs: new GraphOutbox({ connected: () => !this.#scheduler.closed, closed: () => this.#closed, send: (m, bytes) => this.#scheduler.send(m, bytes), write: () => (this.#scheduler.comm.flush(), this.#scheduler.comm.backlog), share: () => this.#scheduler.comm.share }),
    closing: (reason: string) => void (this.#closingReason = reason),
    gone: (reason: string) => this.#schedulerGone(reason),
  };

  // ---- submitting ---------------------------------------------------------------------------

  /**
   * Run `fn(...args)` on a worker. `fn` is shipped as source (it must be self-contained) or is
   * a `remote()` module export. Arguments may be futures, or contain them at any depth: the
   * task gets their values. A trailing plain object whose keys are all SubmitOptions keys,
   * given beyond the function's declared parameters, is taken as options; one that mixes option
   * keys with others throws a TypeError (end with `{}` to pass such an object as an argument).
   * With `{ actor: true }`, `fn` is a class (or a remote() export of one): the task makes an
   * actor on one worker, and the future's result is its proxy (`Actor<T>`, client/actor.ts).
   * @example const f = client.submit((a: number, b: number) => a + b, 1, 2, { key: "add-1" });
   * @example const counter = await client.submit(Counter, { actor: true }).result(); await counter.increment();
   */
  submit<A extends unknown[], T extends object>(
    cls: new (...args: A) => T,
    ...rest: [...ArgsOf<A>, SubmitOptions & { actor: true }] | ([] extends A ? [SubmitOptions & { actor: true }] : never)
  ): Future<Actor<T>>;
  submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...rest: [...ArgsOf<A>] | [...ArgsOf<A>, SubmitOptions]): Future<Awaited<R>>;
  submit(fn: ((...args: never[]) => unknown) | (new (...args: never[]) => object), ...rest: unknown[]): Future<unknown> {
    const { args, options } = splitTrailingOptions<SubmitOptions>("submit", rest, fn.length, SUBMIT_OPTION_KEYS);
    return this.#submit(fn, args, options);
  }

  /**
   * Run `fn(x, y, ...)` for the items of one or more iterables taken in step, stopping at the
   * shortest (as Dask's `map(func, *iterables)`); one future per call. Items may be futures.
   * A last plain object whose keys are all option names is options (`key` is a prefix, or a
   * list of keys); a last argument that is neither an iterable nor options throws a TypeError.
   * @example client.map((x: number, y: number) => x + y, [1, 2, 3], [10, 20, 30], { priority: 1 })
   */
  map<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...rest: MapArgs<A>): Array<Future<Awaited<R>>> {
    const { iterables, options } = splitMapArguments<MapOptions>(rest, SUBMIT_OPTION_KEYS);
    const { key, ...common } = options;
    if (key !== undefined && typeof key !== "string" && !(Array.isArray(key) && key.every((k) => typeof k === "string"))) {
      throw new TypeError(`map's key option must be a prefix string or a list of keys, got ${JSON.stringify(key)}`);
    }
    const rows = [...zipIterables(iterables)];
    if (Array.isArray(key) && key.length !== rows.length) throw new TypeError(`map got ${key.length} keys for ${rows.length} tasks`);
    checkOptions(common); // once for every row
    const call = { wire: this.#encodeFunction(fn, common.actor), prefix: typeof key === "string" ? key : undefined };
    // all or nothing: every row is encoded (and may be refused) before any task is submitted
    const prepared = rows.map((args, i) => this.#prepare(fn, args, common, call, i, Array.isArray(key) ? key[i] : undefined));
    return prepared.map((p) => this.#commit(p));
  }

  /**
   * Submit a whole graph: `{ key: [fn, ...args] }`, where `ref("other")` (or a Future) stands
   * for another task's value, in any order (a task is sent after its dependencies). Returns a
   * future per key.
   * @example const fs = client.submitGraph({ a: [(x) => x + 1, 1], b: [(x, y) => x * y, ref("a"), 10] });
   */
  submitGraph(graph: Record<string, [(...args: never[]) => unknown, ...unknown[]]>, options: Omit<SubmitOptions, "key" | "pure"> = {}): Record<string, Future<unknown>> {
    const out: Record<string, Future<unknown>> = {};
    checkOptions(options); // once for every task
    const prepared = Object.entries(graph).map(([key, task]) => {
      if (!Array.isArray(task)) throw new TypeError(`submitGraph: task ${JSON.stringify(key)} must be [fn, ...args], got ${describeValue(task)}`);
      const [fn, ...args] = task;
      return this.#prepare(fn, args, options, { wire: this.#encodeFunction(fn, options.actor) }, key, key);
    });
    // submitted dependencies first (a graph over one message's tasks is sent in several), returned in the given order
    const futures = new Map(dependenciesFirst(prepared).map((p) => [p.key, this.#commit(p)]));
    for (const p of prepared) out[p.key] = futures.get(p.key)!;
    return out;
  }

  #submit(fn: unknown, args: unknown[], options: SubmitOptions): Future<never> {
    return this.#commit(this.#prepare(fn, args, options));
  }

  /**
   * Encode a task (this is where an unsendable argument throws) without submitting it. `call`:
   * what the tasks of one map or submitGraph share, their options checked by it (a lone submit's
   * are checked here); `where`: the map item (its index) or graph task (its key) errors name.
   */
  #prepare(fn: unknown, args: unknown[], options: SubmitOptions, call?: { wire: WireFunction; prefix?: string }, where?: number | string, key = options.key): TaskSpec {
    this.#checkOpen();
    if (!call) checkOptions(options);
    if (key !== undefined) checkKey(key);
    const wire = call?.wire ?? this.#encodeFunction(fn, options.actor);
    // made only for an error: a string per task costs a million of them in a big map
    const named = () => (where === undefined ? "" : typeof where === "number" ? `map item ${where + 1}, ` : `task ${JSON.stringify(where)}, `);
    let encoded;
    try {
      encoded = encodeWithRaws(args, RAW_PART_BYTES, Sent.arguments);
    } catch (err) {
      // the item is named in a new error (a changed message would leave the stack saying the old one)
      throw where !== undefined && err instanceof TypeError ? new TypeError(named() + err.message, { cause: err }) : err;
    }
    const { head, raws, keys: deps } = encoded; // raws and deps: one shared empty list when there are none
    const parts = raws.length ? [head, ...copyRaws(raws)] : [head];
    checkFits(parts, this.#scheduler.comm, () => `${named()}the arguments`, "the scheduler", "split the data, or raise distributed.comm.max-frame-size on the scheduler and the workers (at most 4 GiB - 1); big data is best scattered (client.scatter) and passed as its future");
    const name = call?.prefix ?? ((typeof fn === "function" && fn.name) || "lambda");
    // an actor is one object per submit: never shared by key
    key ??= taskKey(name, options.pure === false || options.actor ? randomToken() : tokenize(wire, head, raws));
    // only the options given: an undefined field costs 3 bytes a task on the wire, and memory until the flush
    const spec: TaskSpec = { key, fn: wire, args: parts, deps };
    for (const k of SPEC_OPTIONS) if (options[k] !== undefined) (spec as Record<string, unknown>)[k] = options[k];
    return spec;
  }

  /** Submit a prepared task (once per live key: a known key shares the running task). */
  #commit(task: TaskSpec): Future<never> {
    if (!this.#keys.get(task.key)) {
      this.#keys.add(task.key, this.#link.graphs.endings);
      this.#link.graphs.add(task);
    }
    return this.#future(task.key);
  }

  /** Send the tasks submitted so far (client/graph-outbox.ts): anything else sent to the scheduler goes after them. */
  #flushGraph(): void {
    this.#link.graphs.flush();
  }

  /** One wire form per distinct function (`FunctionTable.wireOf`), so it is sent once per message. */
  #encodeFunction(fn: unknown, actor?: boolean): WireFunction {
    return this.#functions.wireOf(fn, actor);
  }

  #future(key: string): Future<never> {
    const ks = this.#keys.get(key)!;
    ks.refs++;
    return new Future(this, ks);
  }

  /**
   * Put values on workers directly (not through the scheduler); returns a future per value.
   * @param options.workers where to put them (names or addresses; default: spread over all)
   * @param options.broadcast put every value on every (chosen) worker
   */
  async scatter<T>(values: T[], options?: ScatterOptions): Promise<Array<Future<T>>>;
  async scatter<T>(value: T, options?: ScatterOptions): Promise<Future<T>>;
  async scatter<T>(values: T | T[], options: ScatterOptions = {}): Promise<Future<T> | Array<Future<T>>> {
    this.#checkOpen();
    checkScatterOptions(options);
    const keys = await scatterValues(Array.isArray(values) ? values : [values], !Array.isArray(values), options, {
      workers: async () => (await this.schedulerInfo()).workers,
      worker: (address) => this.#worker(address),
      addKey: (key) => this.#keys.add(key, this.#link.graphs.endings),
      request: (msg, timeoutMs) => this.request(msg, timeoutMs), // after a pending release of a key scattered again
      timeoutMs: 10 * REQUEST_TIMEOUT_MS,
    });
    const futures = keys.map((k) => this.#future(k) as Future<T>);
    return Array.isArray(values) ? futures : futures[0]!;
  }

  // ---- results ------------------------------------------------------------------------------

  /** Wait until these key incarnations are finished, erred or cancelled, at most `timeoutMs`. @internal */
  async waitKeys(states: KeyState[], timeoutMs: number): Promise<void> {
    if (states.every((ks) => ks.status !== "pending")) return;
    this.#scheduler.hold();
    try {
      await settled(states, timeoutMs);
    } finally {
      this.#scheduler.release();
    }
  }

  /**
   * Values of these futures, fetched directly from the workers that hold them: a future, an
   * array of futures, or (as Dask's) arrays, plain objects, Maps and Sets holding futures at any
   * depth, given back with each future replaced by its value (gather-structure.ts). `errors:
   * "skip"` leaves out the failed (erred or cancelled) ones instead of throwing the first error.
   */
  async gather<T>(futures: Array<Future<T>>, options?: GatherOptions): Promise<T[]>;
  async gather<T>(future: Future<T>, options?: { timeout?: number }): Promise<T>;
  async gather<S>(structure: S, options?: GatherOptions): Promise<Gathered<S>>;
  async gather(structure: unknown, options: GatherOptions = {}): Promise<unknown> {
    const skip = gatherSkips(options.errors);
    checkTimeout("gather", options.timeout);
    const values = (futures: Future[], skipHere: boolean) => gatherValues(futures, skipHere, options.timeout ?? Infinity, this.#fetchHost); // as long as it takes, as in Dask
    return gatherStructure(structure, skip, (v): v is Future => v instanceof Future, values);
  }

  /** The error of a failed future (undefined while pending or after success). @internal */
  errorOf(key: string, ks: KeyState): Error | undefined {
    return ks.status === "error" ? failure(key, ks) : undefined;
  }

  readonly #fetchHost: GatherHost = {
    checkOpen: () => this.#checkOpen(),
    waitKeys: (states, timeoutMs) => this.waitKeys(states, timeoutMs),
    lost: () => this.#lostError,
    hold: () => this.#scheduler.hold(),
    release: () => this.#scheduler.release(),
    whoHas: (keys) => this.#whoHas(keys),
    worker: (address) => this.#worker(address),
    timeoutMs: REQUEST_TIMEOUT_MS,
    actors: actorHost({ worker: (address) => this.#worker(address), retain: (key) => (this.#keys.get(key) ? this.#future(key) : undefined) }),
  };

  #worker(address: string): Promise<Rpc> {
    let p = this.#workerRpcs.get(address);
    if (!p) {
      p = connect(address, this.#secret, 10_000, { ...DEFAULT_COMM, tls: this.#tls, maxFrameBytes: this.#plan.maxFrameBytes }).then((comm) => {
        const rpc = new Rpc(comm, {}, { holdLoop: "while-busy" });
        comm.onClose(() => this.#workerRpcs.delete(address));
        return rpc;
      });
      p.catch(() => this.#workerRpcs.delete(address));
      this.#workerRpcs.set(address, p);
    }
    return p;
  }

  /** Drop one future's hold on its key's incarnation; the last one releases the key on the cluster. @internal */
  releaseKey(key: string, ks: KeyState): void {
    // after the key's task, if that is still waiting to be sent; while reconnecting, to the next scheduler
    if (this.#keys.drop(key, ks) && !this.#closed) this.#link.graphs.release(key);
  }

  /** Cancel futures and, recursively, the tasks depending on them: the cluster stops and forgets that work, for every client. */
  async cancel(futures: Future<unknown> | Array<Future<unknown>>): Promise<void> {
    const list = Array.isArray(futures) ? futures : [futures];
    list.forEach((f, i) => checkFuture(f, f instanceof Future, "cancel", () => (Array.isArray(futures) ? `item ${i + 1}` : "its argument")));
    // a future whose incarnation is already cancelled (or released) has nothing left to cancel
    const live = list.filter((f) => this.#keys.release(f.key, f.state));
    for (const f of live) settle(f.state, "cancelled", undefined, `${this.id} cancelled it`); // as another client's cancel says
    // after the tasks and releases before it; while reconnecting, to the next scheduler
    if (live.length && !this.#closed) this.#link.graphs.cancel(live.map((f) => f.key));
  }

  /**
   * Run erred futures' tasks again (Dask's `retry`), with the erred tasks they erred because of
   * and the tasks that erred with those; once it resolves, their futures are pending again.
   */
  async retry(futures: Future<unknown> | Array<Future<unknown>>): Promise<void> {
    const list = Array.isArray(futures) ? futures : [futures];
    list.forEach((f, i) => checkFuture(f, f instanceof Future, "retry", () => (Array.isArray(futures) ? `item ${i + 1}` : "its argument")));
    await this.request({ op: Op.retry, keys: [...new Set(list.map((f) => f.key))] });
  }

  // ---- datasets (client/datasets.ts) --------------------------------------------------------

  /**
   * Publish futures or a value under `name` for any client; the scheduler keeps them after this client goes.
   * @example await client.publishDataset("training", await client.scatter(rows)); // another client: getDataset("training")
   */
  publishDataset(name: string, value: unknown, options?: { override?: boolean }): Promise<void> { return datasets.publishDataset(this, name, value, options); }
  /** A published dataset (its futures become this client's); unknown: an error at once, or after waiting `timeout` ms. */
  getDataset<T = unknown>(name: string, options?: { timeout?: number }): Promise<T> { return datasets.getDataset<T>(this, name, options); }
  /** The names of the published datasets. */
  listDatasets(): Promise<string[]> { return datasets.listDatasets(this); }
  /** Unpublish `name` (its futures are released once no client holds them). */
  unpublishDataset(name: string): Promise<void> { return datasets.unpublishDataset(this, name); }

  // ---- worker plugins (client/plugins.ts) ---------------------------------------------------

  /**
   * Dask's `register_plugin` for workers: `setup` runs on every task thread of every worker, now and later; a task reads its value
   * with `workerPlugin(name)`. Each worker's "ok", or a WorkerPluginError naming the first that failed (client/plugins.ts).
   */
  registerWorkerPlugin<S>(plugin: WorkerPlugin<S>, options?: PluginOptions & { idempotent?: boolean }): Promise<Record<string, "ok">> { return plugins.register(this.#runHost, plugin, options); }
  /** Take a worker plugin away: its teardown runs on every task thread; an unknown name is an error. */
  unregisterWorkerPlugin(name: string, options?: PluginOptions): Promise<void> { return plugins.unregister(this.#runHost, name, options); }

  // ---- for the client's modules (datasets, coordination, locality, task stream...) ----------

  /** How actor proxies call their actors through this client's worker connections. @internal */
  get actorHost(): ActorHost { return this.#fetchHost.actors; }

  /** A request to the scheduler (an extension's op, say), at most `timeoutMs`; it sees every task submitted before it. @internal */
  request<T = unknown>(msg: Message, timeoutMs = REQUEST_TIMEOUT_MS, options?: RequestOptions): Promise<T> {
    this.#checkOpen();
    // made while reconnecting: it never reached the scheduler that went, so it goes to the one taking over
    const relinking = this.#relinking;
    if (relinking) return within(relinking, timeoutMs, () => new TimeoutError(`${String(msg.op)}: no scheduler took over within ${timeoutMs} ms`)).then(() => this.request<T>(msg, timeoutMs, options));
    this.#flushGraph();
    return this.#scheduler.request<T>(msg, timeoutMs, options);
  }

  /** A one-way message to the scheduler, after the tasks submitted and the keys released before it. @internal */
  send(msg: Message): void {
    this.#checkOpen();
    this.#flushGraph();
    this.#scheduler.send(msg);
  }

  /** A future of this client for a key the scheduler handed it (a dataset's, a queue item's); `adopted` then says so. @internal */
  adopt(key: string): Future<never> {
    this.#checkOpen();
    if (!this.#keys.get(key)) this.#keys.add(key, this.#link.graphs.endings);
    return this.#future(key);
  }

  /** The handed keys adopted: this client wants them (after a pending release of one: send flushes it first). @internal */
  adopted(keys: string[]): void {
    this.send({ op: Op.wantKeys, keys, handed: true });
  }

  /** Take an op the scheduler pushes to this client (raw: the handler checks its fields). @internal */
  handle(op: string, handler: (msg: Message) => unknown): void {
    this.#pushed.set(op, handler); // taken again on the connection to a scheduler that takes over
    this.#scheduler.handle(op, (m) => handler(m));
  }
  #pushed = new Map<string, (msg: Message) => unknown>();

  // ---- cluster ------------------------------------------------------------------------------

  /**
   * Scheduler address and the workers it knows, keyed by worker address; `failedWorkers`: those
   * that left because they could not go on (an MPI rank whose nanny gave up), with the reason.
   */
  async schedulerInfo(): Promise<{ address: string; id: string; workers: Record<string, WorkerSummary>; failedWorkers: FailedWorkerInfo[] }> {
    this.#checkOpen();
    return this.request({ op: Op.identity }, REQUEST_TIMEOUT_MS);
  }

  /** Wait until at least `n` workers are connected. */
  async waitForWorkers(n: number, options: { timeout?: number } = {}): Promise<void> {
    if (!(Number.isInteger(n) && n >= 0)) throw new TypeError(`waitForWorkers: the number of workers must be an integer >= 0, got ${describeValue(n)}`);
    checkTimeout("waitForWorkers", options.timeout);
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

  /**
   * Run `fn(...args)` on every worker's main thread (or those named in `options.workers`);
   * results keyed by worker address. A worker whose call fails rejects the whole call.
   * @example await client.run(() => process.pid)   // { "tcp://...": 1234, ... }
   */
  async run<R>(fn: (...args: never[]) => R | Promise<R>, ...rest: unknown[]): Promise<Record<string, Awaited<R>>> { return runOnWorkers(this.#runHost, fn, rest); }

  /**
   * Run `fn(...args, { scheduler })` in the scheduler's process, e.g. to start a service next to
   * it; `scheduler` gives its `address` and `identity()`.
   */
  async runOnScheduler<R>(fn: (...args: never[]) => R | Promise<R>, ...args: unknown[]): Promise<Awaited<R>> { return runOnScheduler(this.#runHost, fn, args); }

  readonly #runHost: RunHost = {
    checkOpen: () => this.#checkOpen(),
    request: (msg, timeoutMs) => this.request(msg, timeoutMs),
    wire: (fn) => this.#encodeFunction(fn),
    scheduler: () => this.#scheduler.comm,
  };

  /** The scheduler's last log lines, oldest first (Dask's `get_scheduler_logs`): client/logs.ts. */
  getSchedulerLogs(options?: LogsOptions): Promise<LogRecord[]> { return schedulerLogs(this, options); }
  /** Each worker's last log lines by address (Dask's `get_worker_logs`): client/logs.ts. */
  getWorkerLogs(options?: WorkerLogsOptions): Promise<Record<string, LogRecord[]>> { return workerLogs(this, options); }

  /** Retire workers gracefully: their unique results move to other workers, then they close. */
  async retireWorkers(workers: string[]): Promise<string[]> {
    this.#checkOpen();
    checkWorkerList("retireWorkers' argument", workers);
    return this.request({ op: Op.retireWorkers, workers }, 10 * REQUEST_TIMEOUT_MS);
  }

  /** Dask's `restart_workers`: their processes start afresh under their nannies (what only they held is lost); each -> its new address. */
  restartWorkers(workers: string[], options?: { timeout?: number }): Promise<Record<string, string>> { return restartWorkers(this.#runHost, workers, options); }
  /** Cancel all work and forget all results; workers get fresh task threads. */
  async restart(): Promise<void> {
    this.#checkOpen();
    await this.request({ op: Op.restart }, 2 * REQUEST_TIMEOUT_MS);
  }

  // where data lives (client/locality.ts) and what happened (client/task-stream.ts)
  /** Key -> addresses of the workers holding it, for these futures (default: every key in memory). */
  whoHas(futures?: locality.Futures): Promise<Record<string, string[]>> { return locality.whoHas(this, futures); }
  /** Worker address -> keys it holds, for these workers (names or addresses; default: all). */
  hasWhat(workers?: string[]): Promise<Record<string, string[]>> { return locality.hasWhat(this, workers); }
  /** Key -> bytes of its value as the scheduler counts them (default: every key in memory). */
  nbytes(futures?: locality.Futures): Promise<Record<string, number>> { return locality.nbytes(this, futures); }
  /** Copy values worker to worker until each is on `n` workers (default: all); extra copies are dropped. @example await client.replicate(table, { n: 2 }) */
  replicate(futures: locality.Futures, options?: locality.ReplicateOptions): Promise<void> { return locality.replicate(this, futures, options); }
  /** Move values (of these futures; default all) between workers so that their stored bytes even out; none is recomputed. */
  rebalance(futures?: locality.Futures, options?: locality.RebalanceOptions): Promise<void> { return locality.rebalance(this, futures, options); }
  /** Recent task records (key, group, worker, thread, start, stop, transfers), oldest first. @example await client.getTaskStream({ start: t0 }) */
  getTaskStream(options?: TaskStreamOptions): Promise<TaskStreamRecord[]> { return getTaskStream(this, options); }
  /** Why a task (no key: the pending work) does not run: the scheduler's reasons (resources, restrictions, paused workers, dependencies, busy threads) and, under a job-queue cluster, the queue's. @example (await client.whyPending(f.key)).answer */ async whyPending(key?: string): Promise<import("../protocol/messages-pending.js").WhyPending> { return this.request({ op: Op.whyPending, ...(key === undefined ? {} : { key }) }, 2 * REQUEST_TIMEOUT_MS); }
  /** Start Jupyter on the scheduler's host (or get the one running there; client/jupyter.ts): its URL carries the token, its notebooks find the scheduler file in DASK_SCHEDULER_FILE, and it ends with the scheduler. @example const { url } = await client.startJupyter({ kernel: "tslab" }) */
  startJupyter(options?: JupyterOptions): Promise<JupyterServer> { return startJupyter(this, options); }

  /** The history of a key's states on the scheduler (stimulus id, from, to, time, and why where told). */
  async story(key: string): Promise<Array<{ stimulusId: string; from: string; to: string; at: number; reason?: string }>> {
    if (typeof key !== "string") throw new TypeError(`story: key must be a string (a future's key), got ${(key as unknown) instanceof Future ? "a Future (pass future.key)" : JSON.stringify(key) ?? String(key)}`);
    return this.request({ op: Op.story, key }); // after the tasks submitted before it
  }

  /** Versions of this client, the scheduler and every worker; logs a warning (or throws, with `check: true`) when they disagree. */
  async getVersions(options: { check?: boolean } = {}): Promise<{ client: Versions; scheduler: Versions; workers: Record<string, Versions> }> {
    const r = await this.request<{ scheduler: Versions; workers: Record<string, Versions> }>({ op: Op.versions });
    return { client: checkVersions(r, options.check === true), ...r };
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

  /**
   * Where keys are, for gather. While the client reconnects (or its connection just closed) no
   * holder is known: gather asks again next round, until the reconnect window closes.
   */
  async #whoHas(keys: string[]): Promise<Record<string, string[]>> {
    if (this.#lostSince !== undefined) return {};
    try {
      return await this.#scheduler.request<Record<string, string[]>>({ op: Op.whoHas, keys }, REQUEST_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof CommClosedError && !this.#closed) return {};
      throw err;
    }
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

  get closed(): boolean { return this.#closed; }
  /** @internal The scheduler's frame cap and share of it (Comm.share), for values sent to it. */
  get schedulerFrames(): Pick<Comm, "share" | "peerMaxFrameBytes"> { return this.#scheduler.comm; }

  /**
   * The scheduler's connection ended without close(), or it missed its heartbeat. Unless the
   * scheduler announced its shutdown, the client reconnects to whatever the scheduler file (or
   * address) names, within the reconnect window: a journaled scheduler taking over knows this
   * client's graph, and its futures complete as if nothing happened. Else pending work fails with
   * SchedulerLostError.
   */
  #schedulerGone(reason: string): void {
    if (this.#closed || this.#lostSince !== undefined) return;
    const since = (this.#lostSince = Date.now());
    const announced = this.#closingReason;
    const windowMs = announced === undefined ? this.#plan.reconnectMs : 0;
    log().warn({ scheduler: this.schedulerAddress, reason: announced ?? reason, reconnectTimeout: windowMs }, "lost the scheduler");
    const giveUp = (why = reason) => {
      if (this.#closed) return;
      this.#lostError = schedulerLostError(this.schedulerAddress, why, { windowMs, waitedMs: Date.now() - since }, announced);
      this.#lost();
    };
    if (windowMs <= 0) return giveUp();
    this.#keys.lost();
    let last: unknown;
    this.#relinking = relink(this.#plan.where, since + windowMs, this.#plan, this.#link, () => this.#closed, (err) => (last = err)).then((r) => {
      this.#relinking = undefined;
      if (!r || "fresh" in r) {
        if (!r && last !== undefined) log().warn({ err: describeError(last) }, "could not reconnect to the scheduler");
        return giveUp(r && `${reason}; the scheduler now at ${r.fresh} has no journal, so it does not know this client's work`);
      }
      this.#scheduler = r.rpc;
      for (const [op, handler] of this.#pushed) r.rpc.handle(op, (m) => handler(m));
      this.schedulerAddress = r.address;
      this.#secret = r.secret;
      this.#lostSince = undefined;
      log().info({ scheduler: r.address, afterMs: Date.now() - since }, "reconnected to the scheduler");
      try {
        resume(r.rpc, this.#link);
      } catch (err) {
        // the new connection closed already: its close starts the next reconnect
        log().warn({ err: describeError(err) }, "could not resume with the scheduler");
      }
    });
  }

  #lost(): void {
    this.#closed = true;
    this.#keys.abandon();
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#lostError ?? new CommClosedError(`client ${this.id} is closed`);
  }
}
