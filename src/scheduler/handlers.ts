/**
 * What the scheduler does with each message: one named method per op, and the table the
 * connections use (routes()). Messages are checked at the edge (str/num/strList); a wrong field
 * is a ProtocolError, which closes only that connection.
 */
import { type Handler, RemoteError, type Rpc } from "../comm/rpc.js";
import { ProtocolError } from "../errors.js";
import { logger } from "../log.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { type FunctionTable, resolveTaskFunction } from "../protocol/functions.js";
import { type Message, type TaskSpec, isWireFunction, num, str, strList } from "../protocol/messages.js";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { Op, type WireError, toWireError } from "../protocol/ops.js";
import { type Versions, versions } from "../version.js";
import type { Extensions, SchedulerView } from "./extension.js";
import type { Peers } from "./peers.js";
import type { Instruction, SchedulerState, WorkerInfo } from "./state.js";

const log = () => logger("scheduler");
/** Failed workers remembered for schedulerInfo(): the latest ones. */
const FAILED_WORKERS_KEPT = 100;

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
  readonly view: SchedulerView & { readonly state: SchedulerState; retireWorkers(names: string[]): Promise<string[]> };
  readonly peers: Peers;
  readonly functions: FunctionTable;
  readonly extensions: Extensions;
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
}

export class SchedulerHandlers {
  readonly #h: HandlerHost;
  readonly #state: SchedulerState;

  constructor(host: HandlerHost) {
    this.#h = host;
    this.#state = host.view.state;
  }

  /** The table every connection uses: the scheduler's ops, then the extensions'. */
  routes(): Record<string, Handler> {
    const routes: Record<string, Handler> = {
      [Op.registerWorker]: (m, rpc) => this.registerWorker(m, rpc),
      [Op.heartbeat]: (m, rpc) => this.heartbeat(m, rpc),
      [Op.taskFinished]: (m, rpc) => this.taskFinished(m, rpc),
      [Op.executing]: (m, rpc) => this.executing(m, rpc),
      [Op.unregisterWorker]: (m, rpc) => this.unregisterWorker(m, rpc),
      [Op.workerFailed]: (m) => this.workerFailed(m),
      [Op.workerStatus]: (m, rpc) => this.workerStatus(m, rpc),
      [Op.missingData]: (m, rpc) => this.missingData(m, rpc),
      [Op.addReplica]: (m, rpc) => this.addReplica(m, rpc),
      [Op.taskErred]: (m, rpc) => this.taskErred(m, rpc),
      [Op.registerClient]: (m, rpc) => this.registerClient(m, rpc),
      [Op.heartbeatClient]: (_m, rpc) => this.heartbeatClient(rpc),
      [Op.updateGraph]: (m, rpc) => this.updateGraph(m, rpc),
      [Op.releaseKeys]: (m, rpc) => this.releaseKeys(m, rpc),
      [Op.addKeys]: (m, rpc) => this.addKeys(m, rpc),
      [Op.cancelKeys]: (m, rpc) => this.cancelKeys(m, rpc),
      [Op.whoHas]: (m) => this.#state.whoHas(strList(m, "keys")),
      [Op.identity]: () => this.#h.view.identity(),
      [Op.story]: (m) => this.#state.story(str(m, "key")),
      [Op.versions]: () => ({ scheduler: versions(), workers: Object.fromEntries(this.#h.peers.workerVersions) }),
      [Op.runOnScheduler]: (m) => this.runOnScheduler(m),
      [Op.broadcast]: (m) => this.broadcast(m),
      [Op.retireWorkers]: (m) => this.#h.view.retireWorkers(strList(m, "workers")),
      [Op.restart]: () => this.#h.restart(),
      [Op.shutdown]: () => this.#h.shutdown(),
    };
    for (const [op, fn] of this.#h.extensions.ops(new Set(Object.keys(routes)))) {
      routes[op] = (m, rpc) => fn(m, this.#h.peers.ref(rpc));
    }
    return routes;
  }

  // ---- workers ------------------------------------------------------------------------------

  async registerWorker(m: Message, rpc: Rpc): Promise<unknown> {
    const info = parseWorkerInfo(m);
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
    this.#h.peers.addWorker(rpc, info.address, (m.versions as Versions) ?? {});
    log().info({ worker: info.address, name: info.name, nthreads: info.nthreads }, "worker added");
    this.#h.run(this.#state.addWorker(info, Date.now()));
    return { address: this.#h.view.address, id: this.#h.view.id };
  }

  heartbeat(m: Message, rpc: Rpc): string {
    this.#state.heartbeat(this.#h.peers.worker(rpc), (m.metrics as Record<string, unknown>) ?? {}, Date.now());
    return "ok"; // the reply is the scheduler's heartbeat to the worker
  }

  taskFinished(m: Message, rpc: Rpc): void {
    const worker = this.#h.peers.worker(rpc);
    const key = str(m, "key");
    const duration = Number(m.duration ?? 0);
    const hooks = this.#h.extensions.taskFinished;
    if (hooks.length) {
      const e = { key, worker, durationS: duration, at: Date.now() };
      for (const h of hooks) h(e);
    }
    this.#h.run(this.#state.taskFinished(worker, key, num(m, "nbytes"), duration, this.#h.sid("task-finished"), m.value));
  }

  executing(m: Message, rpc: Rpc): void {
    this.#state.executing(this.#h.peers.worker(rpc), strList(m, "keys"));
  }

  unregisterWorker(m: Message, rpc: Rpc): void {
    // it is leaving, not retiring: what it ran is suspect, as if it had died
    const w = this.#h.peers.worker(rpc);
    log().warn({ worker: w, reason: String(m.reason ?? "") }, "worker removed");
    this.#h.run(this.#state.removeWorker(w, this.#h.sid("worker-unregister"), { died: true }));
  }

  workerFailed(m: Message): string {
    // its connection closed when its process died: it is no longer among the workers
    const failed: FailedWorker = { name: str(m, "name"), host: str(m, "host"), reason: str(m, "reason"), time: Date.now() / 1000 };
    log().error({ worker: failed.name, host: failed.host, reason: failed.reason }, "worker failed and left the cluster");
    if (this.#h.failedWorkers.push(failed) > FAILED_WORKERS_KEPT) this.#h.failedWorkers.shift();
    return "ok";
  }

  workerStatus(m: Message, rpc: Rpc): void {
    const w = this.#h.peers.worker(rpc);
    const paused = m.status === "paused";
    log().info({ worker: w, status: paused ? "paused" : "running", reason: String(m.reason ?? "") }, paused ? "worker paused" : "worker resumed");
    this.#h.run(this.#state.setPaused(w, paused, this.#h.sid("worker-status")));
  }

  missingData(m: Message, rpc: Rpc): void {
    this.#h.run(this.#state.missingData(this.#h.peers.worker(rpc), str(m, "key"), str(m, "missing"), strList(m, "holders"), this.#h.sid("missing-data")));
  }

  addReplica(m: Message, rpc: Rpc): void {
    const w = this.#h.peers.worker(rpc);
    for (const k of strList(m, "keys")) this.#state.addReplica(k, w);
  }

  taskErred(m: Message, rpc: Rpc): void {
    const error = m.error as WireError;
    this.#h.run(this.#state.taskErred(this.#h.peers.worker(rpc), str(m, "key"), error, this.#h.sid("task-erred")));
  }

  // ---- clients ------------------------------------------------------------------------------

  registerClient(m: Message, rpc: Rpc): unknown {
    const id = str(m, "id");
    this.#h.peers.addClient(rpc, id);
    this.#h.clientRegistered(id);
    this.#state.addClient(id);
    return { address: this.#h.view.address, id: this.#h.view.id, services: this.#h.view.services };
  }

  /**
   * The reply is all a client needs to know the scheduler is alive. A silent client is not
   * dropped (as in Dask): one that is gone closes its connection; one that is busy keeps its work.
   */
  heartbeatClient(rpc: Rpc): string {
    this.#h.peers.client(rpc);
    return "ok";
  }

  updateGraph(m: Message, rpc: Rpc): void {
    const client = this.#h.peers.client(rpc);
    this.#h.run(this.#state.updateGraph(client, parseTasks(m.tasks, this.#functionIds(m.functions)), this.#h.sid("update-graph")));
  }

  releaseKeys(m: Message, rpc: Rpc): void {
    this.#h.run(this.#state.releaseKeys(this.#h.peers.client(rpc), strList(m, "keys"), this.#h.sid("release-keys")));
  }

  addKeys(m: Message, rpc: Rpc): void {
    const entries = (m.keys as Array<{ key: string; nbytes: number }>) ?? [];
    this.#h.run(this.#state.addData(this.#h.peers.client(rpc), str(m, "worker"), entries, this.#h.sid("scatter")));
  }

  cancelKeys(m: Message, rpc: Rpc): void {
    this.#h.run(this.#state.cancelKeys(strList(m, "keys"), this.#h.sid("cancel"), `${this.#h.peers.client(rpc)} cancelled it`));
  }

  async runOnScheduler(m: Message): Promise<unknown[]> {
    const fn = await resolveTaskFunction(m.fn);
    const parts = m.args as Buffer[];
    const args = decodeWithRaws(parts[0]!, parts.slice(1)) as unknown[];
    const value = await fn(...args, this.#h.runContext);
    const { head, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.schedulerResult);
    return [head, ...raws];
  }

  async broadcast(m: Message): Promise<Record<string, unknown>> {
    const peers = this.#h.peers;
    const targets = m.workers ? this.#h.resolveWorkers(strList(m, "workers")) : [...peers.workers.keys()];
    const out: Record<string, unknown> = {};
    await Promise.all(
      targets.map(async (addr) => {
        const w = peers.workers.get(addr);
        if (!w) return;
        try {
          out[addr] = { ok: true, value: await w.request({ op: Op.run, fn: m.fn, args: m.args }, Number(m.timeout ?? 60_000)) };
        } catch (err) {
          // the worker's own error as it sent it (name, message, stack), or why we got none
          out[addr] = { ok: false, error: err instanceof RemoteError ? err.remote : toWireError(err) };
        }
      }),
    );
    return out;
  }

  /** update-graph's functions -> their numbers in the scheduler's function table. */
  #functionIds(functions: unknown): number[] {
    if (!Array.isArray(functions)) throw new ProtocolError("update-graph: functions must be a list");
    return functions.map((f, i) => {
      if (!isWireFunction(f)) throw new ProtocolError(`update-graph: functions[${i}] must be a function { kind: "source", source } or { kind: "module", url, name }`);
      return this.#h.functions.idOf(f);
    });
  }
}

// ---- message validation (hot-path messages are checked, wrong types close the connection) ----

function parseWorkerInfo(m: Message): WorkerInfo {
  return {
    address: str(m, "address"),
    name: str(m, "name"),
    host: str(m, "host"),
    nthreads: num(m, "nthreads"),
    memoryLimit: num(m, "memoryLimit"),
    pid: num(m, "pid"),
    resources: (m.resources as Record<string, number>) ?? {},
  };
}

/**
 * update-graph's tasks; shapes checked once per message (the hot path). Each task's `fn` is an
 * index into the message's `functions`, replaced here by that function's number in the
 * scheduler's function table.
 */
function parseTasks(v: unknown, functionIds: number[]): TaskSpec[] {
  if (!Array.isArray(v)) throw new ProtocolError("update-graph: tasks must be a list");
  for (const t of v as Array<Record<string, unknown>>) {
    if (typeof t?.key !== "string" || !Array.isArray(t.args) || !Array.isArray(t.deps) || typeof t.fn !== "number" || !(t.fn in functionIds)) {
      throw new ProtocolError("update-graph: each task needs a string key, args parts, a deps list and a function index");
    }
    t.fn = functionIds[t.fn as number];
  }
  return v as TaskSpec[];
}
