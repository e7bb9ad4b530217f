/**
 * What the scheduler does with each message: one named method per op, and the routes the
 * connections use (routes()). Each message is checked at the edge by its op's parser
 * (protocol/messages-*.ts) before its method sees it typed; a wrong field is a ProtocolError,
 * which closes only that connection. Extension ops are routed raw: they check their own.
 */
import { type Handler, type Handlers, RemoteError, type Routes, type Rpc, checkFits, routes } from "../comm/rpc.js";
import { describeError } from "../errors.js";
import { type LogRecord, logger, recentLogs } from "../log.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { type FunctionTable, resolveTaskFunction } from "../protocol/functions.js";
import type {
  AddKeys, Broadcast, CancelKeys, GetWorkerLogs, RegisterClient, ReleaseKeys, RunOnScheduler, UpdateGraph, WantKeys,
} from "../protocol/messages-client.js";
import { type ToScheduler, toSchedulerParsers } from "../protocol/messages-replies.js";
import type {
  AddReplica, Executing, Heartbeat, MissingData, RegisterWorker, TaskErred, TaskFinished, UnregisterWorker, WorkerFailed, WorkerStatusChange,
} from "../protocol/messages-worker.js";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { Op, toWireError } from "../protocol/ops.js";
import { type Versions, versions } from "../version.js";
import type { Extensions, SchedulerView } from "./extension.js";
import type { HandedKeys } from "./handed-keys.js";
import type { Locality } from "./locality.js";
import { heartbeatIntervalMs } from "./options.js";
import type { Peers } from "./peers.js";
import type { Instruction, SchedulerState, WorkerInfo } from "./state.js";
import { FIRE_AND_FORGET, TaskState } from "./state-types.js";
import type { TakeOver } from "./take-over.js";

const log = () => logger("scheduler");
/** Failed workers remembered for schedulerInfo(): the latest ones. */
const FAILED_WORKERS_KEPT = 100;
/** A worker has this long to send its log lines. */
const WORKER_LOGS_TIMEOUT_MS = 30_000;

/** A worker that cannot go on (its nanny gave up), as its MPI rank reported it. */
export interface FailedWorker {
  name: string;
  host: string;
  reason: string;
  /** When it was reported, seconds since the epoch. */
  time: number;
}

/** What the handlers may do to the scheduler (it builds this; nothing else sees its insides). */
export interface HandlerHost {
  readonly view: SchedulerView & { readonly state: SchedulerState; retireWorkers(names: string[], o?: { drainMs?: number }): Promise<string[]> };
  readonly peers: Peers;
  readonly functions: FunctionTable;
  readonly extensions: Extensions;
  /** the journal (--journal), when on */
  readonly takeOver: TakeOver | undefined;
  /** has-what, nbytes, replicate, rebalance */
  readonly locality: Locality;
  /** keys handed to clients that have not adopted them yet */
  readonly handed: HandedKeys;
  readonly failedWorkers: FailedWorker[];
  sid(what: string): string;
  run(instructions: Instruction[]): void;
  probe(address: string): Promise<void>;
  /** Workers by name or address -> addresses of connected workers. */
  resolveWorkers(names: string[]): string[];
  clientRegistered(id: string): void;
  restart(): Promise<string>;
  shutdown(): Promise<string>;
  /** run-on-scheduler's context argument. */
  readonly runContext: unknown;
  /** a worker silent this long is removed (null: never) */
  readonly workerTtlMs: number | null;
}

export class SchedulerHandlers {
  readonly #h: HandlerHost;
  readonly #state: SchedulerState;

  constructor(host: HandlerHost) {
    this.#h = host;
    this.#state = host.view.state;
  }

  /** The routes every connection uses: the scheduler's ops (parsed at the edge), then the extensions' (raw). */
  routes(): Routes<ToScheduler> {
    const handlers: Handlers<ToScheduler> = {
      [Op.registerWorker]: (m, rpc) => this.registerWorker(m, rpc),
      [Op.heartbeat]: (m, rpc) => this.heartbeat(m, rpc),
      [Op.taskFinished]: (m, rpc) => this.taskFinished(m, rpc),
      [Op.executing]: (m, rpc) => this.executing(m, rpc),
      [Op.longRunning]: (m, rpc) => this.#h.run(this.#state.longRunning(this.#h.peers.worker(rpc), m.key, this.#h.sid("long-running"))),
      [Op.unregisterWorker]: (m, rpc) => this.unregisterWorker(m, rpc),
      [Op.workerFailed]: (m) => this.workerFailed(m),
      [Op.workerStatus]: (m, rpc) => this.workerStatus(m, rpc),
      [Op.missingData]: (m, rpc) => this.missingData(m, rpc),
      [Op.addReplica]: (m, rpc) => this.addReplica(m, rpc),
      [Op.releaseWorkerData]: (m, rpc) => this.#h.run(this.#state.releaseWorkerData(this.#h.peers.worker(rpc), m.keys, m.runs, this.#h.sid("release-worker-data"))),
      [Op.taskErred]: (m, rpc) => this.taskErred(m, rpc),
      [Op.registerClient]: (m, rpc) => this.registerClient(m, rpc),
      [Op.heartbeatClient]: (_m, rpc) => this.heartbeatClient(rpc),
      [Op.updateGraph]: (m, rpc) => this.updateGraph(m, rpc),
      [Op.releaseKeys]: (m, rpc) => this.releaseKeys(m, rpc),
      [Op.addKeys]: (m, rpc) => this.addKeys(m, rpc),
      [Op.cancelKeys]: (m, rpc) => this.cancelKeys(m, rpc),
      [Op.wantKeys]: (m, rpc) => this.wantKeys(m, rpc),
      [Op.whoHas]: (m) => this.#state.whoHas(m.keys),
      [Op.retry]: (m) => {
        const { keys, instructions } = this.#state.retry(m.keys, this.#h.sid("retry"));
        if (keys.length) this.#h.takeOver?.retried(keys); // their errors are not a scheduler taking over's to restore
        this.#h.run(instructions);
        return keys;
      },
      [Op.fireAndForget]: (m) => {
        const taken = this.#state.fireAndForget(m.keys);
        // a scheduler taking over keeps them running too
        if (taken.length) this.#h.takeOver?.wanted(FIRE_AND_FORGET, taken);
      },
      [Op.hasWhat]: (m) => this.#h.locality.hasWhat(m),
      [Op.nbytes]: (m) => this.#h.locality.nbytes(m),
      [Op.replicate]: (m) => this.#h.locality.replicate(m),
      [Op.rebalance]: (m) => this.#h.locality.rebalance(m),
      [Op.identity]: () => this.#h.view.identity(),
      [Op.story]: (m) => this.#state.story(m.key),
      [Op.versions]: () => ({ scheduler: versions(), workers: Object.fromEntries(this.#h.peers.workerVersions) }),
      [Op.runOnScheduler]: (m, rpc) => this.runOnScheduler(m, rpc),
      [Op.broadcast]: (m, rpc) => this.broadcast(m, rpc),
      [Op.getLogs]: (m) => recentLogs(m.n),
      [Op.getWorkerLogs]: (m) => this.workerLogs(m),
      // a worker retiring for its job's end bounds how long its running tasks may take (drainS)
      [Op.retireWorkers]: (m) => this.#h.view.retireWorkers(m.workers, "drainS" in m && m.drainS !== undefined ? { drainMs: Math.max(0, m.drainS * 1000) } : {}),
      [Op.restart]: () => this.#h.restart(),
      [Op.shutdown]: () => this.#h.shutdown(),
    };
    const raw: Record<string, Handler> = {};
    for (const [op, fn] of this.#h.extensions.ops(new Set(Object.keys(handlers)))) {
      raw[op] = (m, rpc) => fn(m, this.#h.peers.ref(rpc));
    }
    return routes({ parsers: toSchedulerParsers, handlers, raw });
  }

  // ---- workers ------------------------------------------------------------------------------

  async registerWorker(m: RegisterWorker, rpc: Rpc): Promise<unknown> {
    if (m.retiresIn !== undefined && !(m.retiresIn >= 0 && Number.isFinite(m.retiresIn))) {
      throw new Error(`retiresIn must be a finite number of seconds >= 0, got ${m.retiresIn}`);
    }
    const info: WorkerInfo = {
      address: m.address, name: m.name, host: m.host, nthreads: m.nthreads, memoryLimit: m.memoryLimit, pid: m.pid, resources: m.resources ?? {},
    };
    const checkUnique = () => {
      for (const ws of this.#state.workers.values()) {
        if (ws.name === info.name) throw new Error(`worker name ${JSON.stringify(info.name)} is already in use by ${ws.address}`);
      }
      if (this.#state.workers.has(info.address)) throw new Error(`worker address ${info.address} is already registered`);
    };
    checkUnique();
    await this.#h.probe(info.address);
    if (rpc.comm.closed) return undefined;
    checkUnique();
    this.#h.peers.addWorker(rpc, info.address, m.versions ?? ({} as Versions));
    for (const added of this.#h.extensions.workerAdded) added({ address: info.address, name: info.name }); // before any task is placed there
    const now = Date.now();
    // its time left, on this clock (the worker's need not agree)
    if (m.retiresIn !== undefined) info.retiresAt = now + m.retiresIn * 1000;
    log().info({ worker: info.address, name: info.name, nthreads: info.nthreads, ...(m.retiresIn === undefined ? {} : { retiresIn: m.retiresIn }) }, "worker added");
    // workers that outlived a scheduler offer what they hold: a journaled scheduler takes over
    // what its journal vouches for. One without a journal frees it all: it cannot tell a held
    // value from one of an earlier incarnation of its key (released, then submitted again)
    if (!this.#h.takeOver?.registerWorker(info, m.held)) {
      // freed before any task is placed there (a held key's compute-task would be ignored)
      const held = Object.keys(m.held ?? {});
      if (held.length) rpc.send({ op: Op.freeKeys, keys: held });
      this.#h.run(this.#state.addWorker(info, now));
    }
    return { address: this.#h.view.address, id: this.#h.view.id };
  }

  /** The reply is the scheduler's heartbeat to the worker, and how often to beat in a cluster this size. */
  heartbeat(m: Heartbeat, rpc: Rpc): { heartbeatMs: number } {
    this.#state.heartbeat(this.#h.peers.worker(rpc), m.metrics ?? {}, Date.now());
    return { heartbeatMs: heartbeatIntervalMs(this.#state.workers.size, this.#h.workerTtlMs) };
  }

  taskFinished(m: TaskFinished, rpc: Rpc): void {
    const worker = this.#h.peers.worker(rpc);
    const key = m.key;
    const duration = m.duration ?? 0;
    const hooks = this.#h.extensions.taskFinished;
    if (hooks.length) {
      const e = { key, worker, durationS: duration, at: Date.now(), nbytes: m.nbytes, thread: m.thread, startstops: m.startstops };
      for (const h of hooks) h(e);
    }
    this.#h.run(this.#state.taskFinished(worker, key, m.nbytes, duration, this.#h.sid("task-finished"), m.value, m.run));
    // journaled only as the state took it (not a stale run's result, freed at once)
    if (this.#h.takeOver && this.#state.tasks.get(key)?.whoHas.has(worker)) this.#h.takeOver.finished(key, worker, m.nbytes);
  }

  executing(m: Executing, rpc: Rpc): void {
    this.#state.executing(this.#h.peers.worker(rpc), m.keys);
  }

  unregisterWorker(m: UnregisterWorker, rpc: Rpc): void {
    // it is leaving, not retiring: what it ran is suspect, as if it had died
    const w = this.#h.peers.worker(rpc);
    log().warn({ worker: w, reason: m.reason ?? "" }, "worker removed");
    this.#h.run(this.#state.removeWorker(w, this.#h.sid("worker-unregister"), { died: true }));
  }

  workerFailed(m: WorkerFailed): string {
    // its connection closed when its process died: it is no longer among the workers
    const failed: FailedWorker = { name: m.name, host: m.host, reason: m.reason, time: Date.now() / 1000 };
    log().error({ worker: failed.name, host: failed.host, reason: failed.reason }, "worker failed and left the cluster");
    if (this.#h.failedWorkers.push(failed) > FAILED_WORKERS_KEPT) this.#h.failedWorkers.shift();
    return "ok";
  }

  workerStatus(m: WorkerStatusChange, rpc: Rpc): void {
    const w = this.#h.peers.worker(rpc);
    const paused = m.status === "paused";
    log().info({ worker: w, status: paused ? "paused" : "running", reason: m.reason ?? "" }, paused ? "worker paused" : "worker resumed");
    this.#h.run(this.#state.setPaused(w, paused, this.#h.sid("worker-status")));
  }

  missingData(m: MissingData, rpc: Rpc): void {
    this.#h.run(this.#state.missingData(this.#h.peers.worker(rpc), m.key, m.missing, m.holders, this.#h.sid("missing-data"), m.run));
  }

  addReplica(m: AddReplica, rpc: Rpc): void {
    const w = this.#h.peers.worker(rpc);
    // a copy of a value the key no longer has (released meanwhile) is stray: freed there, or it
    // would stay unknown to the scheduler
    const stray: string[] = [];
    for (const [k, run] of m.copies) {
      const t = this.#state.tasks.get(k);
      if (this.#state.addReplica(k, w, run)) {
        // scattered data has no lineage: a scheduler taking over must know every copy (replicate, rebalance)
        if (t?.fn === null) this.#h.takeOver?.copied(k, w, t.nbytes);
      } else if (t?.processingOn !== w) stray.push(k);
    }
    if (stray.length) this.#h.run([{ type: "send-worker", worker: w, msg: { op: Op.freeKeys, keys: stray } }]);
  }

  taskErred(m: TaskErred, rpc: Rpc): void {
    const worker = this.#h.peers.worker(rpc);
    const hooks = this.#h.extensions.taskErred;
    if (hooks.length) {
      const compute = m.startstops?.find((s) => s.action === "compute");
      const e = { key: m.key, worker, durationS: compute ? (compute.stop - compute.start) / 1000 : 0, at: Date.now(), thread: m.thread, startstops: m.startstops, error: m.error.name };
      for (const h of hooks) h(e);
    }
    this.#h.run(this.#state.taskErred(worker, m.key, m.error, this.#h.sid("task-erred"), m.run));
    // journaled only as the state took it (not a retry, not a stale run's)
    if (this.#h.takeOver && this.#state.tasks.get(m.key)?.error === m.error) this.#h.takeOver.erred(m.key, m.error);
  }

  // ---- clients ------------------------------------------------------------------------------

  registerClient(m: RegisterClient, rpc: Rpc): unknown {
    const id = m.id;
    this.#h.peers.addClient(rpc, id);
    this.#h.clientRegistered(id);
    this.#state.addClient(id);
    return { address: this.#h.view.address, id: this.#h.view.id, services: this.#h.view.services, journal: this.#h.view.journal !== undefined };
  }

  /**
   * The reply is all a client needs to know the scheduler is alive. A silent client is not
   * dropped (as in Dask): one that is gone closes its connection; one that is busy keeps its work.
   */
  heartbeatClient(rpc: Rpc): string {
    this.#h.peers.client(rpc);
    return "ok";
  }

  updateGraph(m: UpdateGraph, rpc: Rpc): void {
    const client = this.#h.peers.client(rpc);
    // each task's fn indexes the message's functions (its parser checked that): make it the
    // function's number in the scheduler's table
    if (this.#h.takeOver) this.#journalGraph(client, m);
    if (m.seq !== undefined) this.#h.takeOver?.ackWhenDurable(client, "graphs", m.seq, (ack) => this.#durable(rpc, ack));
    const ids = m.functions.map((f) => this.#h.functions.idOf(f));
    for (const t of m.tasks) t.fn = ids[t.fn]!;
    // the state copies the arguments out of the message (the tasks keep them, not the message)
    this.#h.run(this.#state.updateGraph(client, m.tasks, this.#h.sid("update-graph")));
  }

  /**
   * The graph as the state takes it: a key it knows keeps its computation (another one sent for
   * it is ignored, as in Dask), so the journal records the client's want of it, never that other
   * computation, which a scheduler taking over would run instead.
   */
  #journalGraph(client: string, m: UpdateGraph): void {
    const known: string[] = [];
    for (const t of m.tasks) {
      const record = this.#state.tasks.get(t.key);
      if (record && record.state !== TaskState.forgotten) known.push(t.key);
    }
    const skip = known.length ? new Set(known) : undefined;
    const fresh = skip ? m.tasks.filter((t) => !skip.has(t.key)) : m.tasks;
    this.#h.takeOver!.graph(client, m.functions, fresh);
    if (known.length) this.#h.takeOver!.wanted(client, known);
  }

  /** A client's graphs and endings on disk: it need not keep them any more. */
  #durable(rpc: Rpc, ack: { seq: number; endings?: number }): void {
    if (!rpc.closed) rpc.send({ op: Op.graphDurable, ...ack });
  }

  /** `seq`: the client's number of this ending, acknowledged when handled (ack-keys) and, with a journal, once on disk. */
  #ended(client: string, seq: number | undefined, rpc: Rpc): void {
    if (seq === undefined) return;
    if (!rpc.closed) rpc.send({ op: Op.ackKeys, seq });
    this.#h.takeOver?.ackWhenDurable(client, "endings", seq, (ack) => this.#durable(rpc, ack));
  }

  releaseKeys(m: ReleaseKeys, rpc: Rpc): void {
    const client = this.#h.peers.client(rpc);
    // a release crossing a hand-over's reply is of an incarnation from before it: not applied (handed-keys.ts)
    const keys = this.#h.handed.releasable(client, m.keys);
    if (keys.length) this.#release(client, keys);
    this.#ended(client, m.seq, rpc);
  }

  #release(client: string, keys: string[]): void {
    this.#h.takeOver?.released(client, keys);
    this.#h.run(this.#state.releaseKeys(client, keys, this.#h.sid("release-keys")));
  }

  /** Where a client's scatter put its data. With a journal, the reply (scatter waits for it) comes once that is on disk, as publish's does. */
  addKeys(m: AddKeys, rpc: Rpc): "ok" | Promise<"ok"> {
    const client = this.#h.peers.client(rpc);
    const known = (key: string) => (this.#state.tasks.get(key)?.state ?? TaskState.forgotten) !== TaskState.forgotten;
    const fresh = this.#h.takeOver ? m.keys.filter((k) => !known(k.key)).map((k) => k.key) : [];
    this.#h.run(this.#state.addData(client, m.worker, m.keys, this.#h.sid("scatter")));
    if (!this.#h.takeOver) return "ok";
    // journaled as the state took it: the keys it did not know as scattered data, and their holder
    const isFresh = new Set(fresh);
    const held = m.keys.filter((k) => this.#state.tasks.get(k.key)?.whoHas.has(m.worker));
    this.#h.takeOver.scattered(client, m.worker, fresh, m.keys.filter((k) => !isFresh.has(k.key)).map((k) => k.key), held);
    return this.#h.takeOver.journal.durable().then(() => "ok" as const);
  }

  cancelKeys(m: CancelKeys, rpc: Rpc): void {
    this.#h.takeOver?.cancelled(m.keys);
    const client = this.#h.peers.client(rpc);
    this.#h.run(this.#state.cancelKeys(m.keys, this.#h.sid("cancel"), `${client} cancelled it`));
    this.#ended(client, m.seq, rpc);
  }

  /**
   * `only` (a client resuming after a take-over): the keys it wants are these and no others, so
   * its wants the journal kept of keys it released meanwhile (a release lost with the old
   * scheduler) end; the ack goes before these keys' news, which the client then takes.
   */
  wantKeys(m: WantKeys, rpc: Rpc): void {
    const client = this.#h.peers.client(rpc);
    if (m.only) {
      const wanted = new Set(m.keys);
      const others: string[] = [];
      for (const t of this.#state.tasks.values()) if (t.wantedBy.has(client) && !wanted.has(t.key)) others.push(t.key);
      if (others.length) this.#release(client, others);
    }
    if (m.seq !== undefined && !rpc.closed) rpc.send({ op: Op.ackKeys, seq: m.seq });
    this.#h.takeOver?.wanted(client, m.keys);
    this.#h.run(this.#state.wantKeys(client, m.keys, this.#h.sid("want-keys")));
    if (m.handed) this.#h.handed.adopted(client, m.keys);
  }

  async runOnScheduler(m: RunOnScheduler, rpc: Rpc): Promise<unknown[]> {
    const fn = await resolveTaskFunction(m.fn);
    const parts = m.args;
    const args = decodeWithRaws(parts[0]!, parts.slice(1)) as unknown[];
    const value = await fn(...args, this.#h.runContext);
    const { head, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.schedulerResult);
    // over the client's frame cap the reply would close the client's connection
    checkFits([head, ...raws], rpc.comm, "the result of runOnScheduler", "the client", "return less, or connect the client with a larger maxFrameSize");
    return [head, ...raws];
  }

  /** The addresses of the workers named (names or addresses); one unknown is an error naming it, never skipped. */
  #named(names: string[], call: string): string[] {
    const targets = this.#h.resolveWorkers(names);
    const known = new Set(targets.flatMap((a) => [a, this.#state.workers.get(a)?.name]));
    const unknown = names.find((n) => !known.has(n));
    if (unknown !== undefined) throw new Error(`${call}: unknown worker ${JSON.stringify(unknown)} (workers: ${JSON.stringify([...this.#state.workers.values()].map((w) => w.name))})`);
    return targets;
  }

  /** Each worker's last log lines (of `m.workers`, names or addresses); one that cannot answer fails the call, naming it. */
  async workerLogs(m: GetWorkerLogs): Promise<Record<string, LogRecord[]>> {
    const peers = this.#h.peers;
    const targets = m.workers ? this.#named(m.workers, "getWorkerLogs") : [...peers.workers.keys()];
    const out: Record<string, LogRecord[]> = {};
    await Promise.all(
      targets.map(async (addr) => {
        const w = peers.workers.get(addr);
        if (!w) return; // left meanwhile
        try {
          out[addr] = await w.request<LogRecord[]>({ op: Op.getLogs, n: m.n }, WORKER_LOGS_TIMEOUT_MS);
        } catch (err) {
          throw new Error(`could not get the log of worker ${addr}: ${describeError(err)}`, { cause: err });
        }
      }),
    );
    return out;
  }

  async broadcast(m: Broadcast, rpc: Rpc): Promise<Record<string, unknown>> {
    const peers = this.#h.peers;
    const targets = m.workers ? this.#named(m.workers, "run") : [...peers.workers.keys()];
    const out: Record<string, unknown> = {};
    await Promise.all(
      targets.map(async (addr) => {
        const w = peers.workers.get(addr);
        if (!w) return;
        try {
          out[addr] = { ok: true, value: await w.request({ op: Op.run, fn: m.fn, args: m.args }, m.timeout ?? 60_000) };
        } catch (err) {
          // the worker's own error as it sent it (name, message, stack), or why we got none
          out[addr] = { ok: false, error: err instanceof RemoteError ? err.remote : toWireError(err) };
        }
      }),
    );
    // each worker's result fitted this scheduler's frames; together they must fit the client's
    const parts: Uint8Array[] = [];
    for (const r of Object.values(out) as Array<{ ok: boolean; value?: Uint8Array[] }>) if (r.ok && r.value) parts.push(...r.value);
    checkFits(parts, rpc.comm, `the results of run from ${targets.length} workers`, "the client", "return less from each, run on fewer workers at a time (the workers option), or connect the client with a larger maxFrameSize");
    return out;
  }
}
