/**
 * The scheduler process's I/O shell: accepts authenticated connections, turns messages into
 * SchedulerState events, and carries out the instructions those return.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type CommOptions, DEFAULT_COMM, connect, listen } from "../comm/connect.js";
import { type TlsContext, loadTls } from "../comm/tls.js";
import { Rpc } from "../comm/rpc.js";
import type { Comm, Listener } from "../comm/types.js";
import { ProtocolError, describeError } from "../errors.js";
import { type Message, type TaskSpec, num, str, strList } from "../protocol/messages.js";
import { logger } from "../log.js";
import { Op, toWireError } from "../protocol/ops.js";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { RemoteError } from "../comm/rpc.js";
import { resolveTaskFunction } from "../protocol/functions.js";
import { type Versions, versions } from "../version.js";
import type { Dashboard } from "../dashboard/server.js";
import { type Instruction, SchedulerState, type WorkerInfo } from "./state.js";
import { SCHEDULER_DEFAULTS, type SchedulerOptions } from "./options.js";
import { removeSchedulerFileSync, writeSchedulerFile } from "../comm/scheduler-file.js";
import type { Status } from "../status.js";

const log = () => logger("scheduler");
const CLOSE_WORKERS_TIMEOUT_MS = 5000;
/** How long a retiring worker may take to finish what it is running. */
const RETIRE_DRAIN_MS = 60_000;
/** How long the scheduler tries to connect back to a registering worker. */
const PROBE_TIMEOUT_MS = 5000;
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

type Peer = { kind: "unknown" } | { kind: "worker"; address: string } | { kind: "client"; id: string };

export class Scheduler {
  readonly id = `Scheduler-${randomUUID()}`;
  readonly state: SchedulerState;
  readonly secret: string;
  address = "";
  status: Status = "init";
  #opts: SchedulerOptions;
  #listener: Listener | undefined;
  #workerRpc = new Map<string, Rpc>();
  #clientRpc = new Map<string, Rpc>();
  #peers = new Set<Rpc>();
  #ttlTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Since when nothing has happened, and the transition count then (idle-timeout). */
  #idle = { since: 0, transitions: -1 };
  #closed: Promise<void>;
  #resolveClosed!: () => void;
  #stimulus = 0;
  #workerVersions = new Map<string, Versions>();
  #functionIds = new Map<object, number>();
  #functionsByText = new Map<string, object>();
  #functionsSent = new WeakMap<Rpc, Set<number>>();
  #retiring = new Set<string>();
  #failedWorkers: FailedWorker[] = [];
  #tls: TlsContext | undefined;
  #dashboard: Dashboard | undefined;
  /** What else listens next to the scheduler, by name: `dashboard` (its URL) when it runs. */
  readonly services: Record<string, string> = {};
  /** closeWhenFirstClientLeaves(): waiting for that client (undefined), or its id once it came */
  #jobClient: { id?: string; timer: NodeJS.Timeout } | undefined;

  private constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.secret = opts.secret;
    this.state = new SchedulerState({ allowedFailures: opts.allowedFailures ?? SCHEDULER_DEFAULTS.allowedFailures });
    this.#closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /** Listen, write the scheduler file if asked, and serve. */
  static async start(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    await s.#start();
    return s;
  }

  /** Resolves once the scheduler has closed (e.g. after a client's shutdown()). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  get #comm(): CommOptions {
    return { ...(this.#opts.comm ?? DEFAULT_COMM), tls: this.#tls };
  }

  async #start(): Promise<void> {
    this.status = "starting";
    // the dashboard's modules load while the scheduler's socket opens (start-up time matters)
    const dashboardModule = this.#opts.dashboardAddress ? import("../dashboard/server.js") : undefined;
    this.#tls = this.#opts.tls ? loadTls(this.#opts.tls) : undefined;
    this.#listener = await listen({ protocol: this.#opts.protocol, interface: this.#opts.interface, host: this.#opts.host, port: this.#opts.port }, this.secret, (comm) => this.#accept(comm), this.#comm);
    this.address = this.#listener.address;
    const { bind, advertise } = this.#listener.hosts;
    if (dashboardModule) {
      const { Dashboard } = await dashboardModule;
      this.#dashboard = await Dashboard.start(this, this.#opts.dashboardAddress!, bind, advertise);
      this.services.dashboard = this.#dashboard.url;
      log().info({ dashboard: this.#dashboard.url }, "dashboard at");
    }
    if (this.#opts.schedulerFile) {
      await writeSchedulerFile(this.#opts.schedulerFile, {
        type: "Scheduler",
        id: this.id,
        address: this.address,
        services: this.services,
        started: Date.now() / 1000,
        secret: this.secret,
      });
    }
    const ttl = this.#opts.workerTtlMs === undefined ? SCHEDULER_DEFAULTS.workerTtlMs : this.#opts.workerTtlMs;
    if (ttl !== null) this.#ttlTimer = setInterval(() => this.#checkTtl(ttl), Math.min(1000, ttl)).unref();
    const idle = this.#opts.idleTimeoutMs === undefined ? SCHEDULER_DEFAULTS.idleTimeoutMs : this.#opts.idleTimeoutMs;
    if (idle !== null) this.#idleTimer = setInterval(() => this.#checkIdle(idle), Math.min(1000, idle)).unref();
    this.status = "running";
    log().info({ address: this.address, schedulerFile: this.#opts.schedulerFile }, "scheduler listening");
  }

  #sid(what: string): string {
    return `${what}-${++this.#stimulus}`;
  }

  #accept(comm: Comm): void {
    if (this.status !== "running") {
      comm.close("scheduler is closing");
      return;
    }
    let peer: Peer = { kind: "unknown" };
    const asWorker = (): string => {
      if (peer.kind !== "worker") throw new ProtocolError(`${comm.peer} sent a worker op before registering as a worker`);
      return peer.address;
    };
    const asClient = (): string => {
      if (peer.kind !== "client") throw new ProtocolError(`${comm.peer} sent a client op before registering as a client`);
      return peer.id;
    };
    const rpc: Rpc = new Rpc(comm, {
      [Op.registerWorker]: async (m) => {
        const info = parseWorkerInfo(m);
        const checkUnique = () => {
          for (const ws of this.state.workers.values()) {
            if (ws.name === info.name) throw new Error(`worker name ${JSON.stringify(info.name)} is already in use by ${ws.address}`);
          }
          if (this.state.workers.has(info.address)) throw new Error(`worker address ${info.address} is already registered`);
        };
        checkUnique();
        await this.#probe(info.address);
        if (comm.closed) return undefined;
        checkUnique();
        peer = { kind: "worker", address: info.address };
        this.#workerRpc.set(info.address, rpc);
        this.#workerVersions.set(info.address, (m.versions as Versions) ?? {});
        log().info({ worker: info.address, name: info.name, nthreads: info.nthreads }, "worker added");
        this.#run(this.state.addWorker(info, Date.now()));
        return { address: this.address, id: this.id };
      },
      [Op.heartbeat]: (m) => {
        this.state.heartbeat(asWorker(), (m.metrics as Record<string, unknown>) ?? {}, Date.now());
        return "ok"; // the reply is the scheduler's heartbeat to the worker
      },
      [Op.taskFinished]: (m) => {
        const worker = asWorker();
        const key = str(m, "key");
        const duration = Number(m.duration ?? 0);
        if (this.#dashboard?.watched) this.#dashboard.taskFinished(key, worker, duration, Date.now());
        this.#run(this.state.taskFinished(worker, key, num(m, "nbytes"), duration, this.#sid("task-finished"), m.value));
      },
      [Op.executing]: (m) => this.state.executing(asWorker(), strList(m, "keys")),
      [Op.unregisterWorker]: (m) => {
        // it is leaving, not retiring: what it ran is suspect, as if it had died
        const w = asWorker();
        log().warn({ worker: w, reason: String(m.reason ?? "") }, "worker removed");
        this.#run(this.state.removeWorker(w, this.#sid("worker-unregister"), { died: true }));
      },
      [Op.workerFailed]: (m) => {
        // its connection closed when its process died: it is no longer among the workers
        const failed: FailedWorker = { name: str(m, "name"), host: str(m, "host"), reason: str(m, "reason"), time: Date.now() / 1000 };
        log().error({ worker: failed.name, host: failed.host, reason: failed.reason }, "worker failed and left the cluster");
        if (this.#failedWorkers.push(failed) > FAILED_WORKERS_KEPT) this.#failedWorkers.shift();
        return "ok";
      },
      [Op.workerStatus]: (m) => {
        const w = asWorker();
        const paused = m.status === "paused";
        log().info({ worker: w, status: paused ? "paused" : "running", reason: String(m.reason ?? "") }, paused ? "worker paused" : "worker resumed");
        this.#run(this.state.setPaused(w, paused, this.#sid("worker-status")));
      },
      [Op.missingData]: (m) => {
        this.#run(this.state.missingData(asWorker(), str(m, "key"), str(m, "missing"), strList(m, "holders"), this.#sid("missing-data")));
      },
      [Op.addReplica]: (m) => {
        const w = asWorker();
        for (const k of strList(m, "keys")) this.state.addReplica(k, w);
      },
      [Op.taskErred]: (m) => {
        const error = m.error as { name: string; message: string; stack: string };
        this.#run(this.state.taskErred(asWorker(), str(m, "key"), error, this.#sid("task-erred")));
      },
      [Op.registerClient]: (m) => {
        const id = str(m, "id");
        peer = { kind: "client", id };
        if (this.#jobClient && this.#jobClient.id === undefined) {
          clearTimeout(this.#jobClient.timer);
          this.#jobClient.id = id;
        }
        this.#clientRpc.set(id, rpc);
        this.state.addClient(id);
        return { address: this.address, id: this.id, services: this.services };
      },
      // The reply is all a client needs to know the scheduler is alive. A silent client is not
      // dropped (as in Dask): one that is gone closes its connection; one that is busy keeps its work.
      [Op.heartbeatClient]: () => {
        asClient();
        return "ok";
      },
      [Op.updateGraph]: (m) => {
        const client = asClient();
        this.#run(this.state.updateGraph(client, parseTasks(m.tasks, this.#canonicalFunctions(m.functions)), this.#sid("update-graph")));
      },
      [Op.releaseKeys]: (m) => {
        this.#run(this.state.releaseKeys(asClient(), strList(m, "keys"), this.#sid("release-keys")));
      },
      [Op.addKeys]: (m) => {
        const entries = (m.keys as Array<{ key: string; nbytes: number }>) ?? [];
        this.#run(this.state.addData(asClient(), str(m, "worker"), entries, this.#sid("scatter")));
      },
      [Op.cancelKeys]: (m) => {
        this.#run(this.state.cancelKeys(strList(m, "keys"), this.#sid("cancel"), `${asClient()} cancelled it`));
      },
      [Op.whoHas]: (m) => this.state.whoHas(strList(m, "keys")),
      [Op.identity]: () => this.identity(),
      [Op.story]: (m) => this.state.story(str(m, "key")),
      [Op.versions]: () => ({ scheduler: versions(), workers: Object.fromEntries(this.#workerVersions) }),
      [Op.runOnScheduler]: async (m) => {
        const fn = await resolveTaskFunction(m.fn);
        const parts = m.args as Buffer[];
        const args = decodeWithRaws(parts[0]!, parts.slice(1)) as unknown[];
        const value = await fn(...args, { scheduler: this });
        const { head, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.schedulerResult);
        return [head, ...raws];
      },
      [Op.broadcast]: async (m) => {
        const targets = m.workers ? this.#resolveWorkers(strList(m, "workers")) : [...this.#workerRpc.keys()];
        const out: Record<string, unknown> = {};
        await Promise.all(
          targets.map(async (addr) => {
            const w = this.#workerRpc.get(addr);
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
      },
      [Op.retireWorkers]: (m) => this.retireWorkers(strList(m, "workers")),
      [Op.restart]: () => this.#restart(),
      [Op.shutdown]: async () => {
        log().info({ reason: "client requested shutdown" }, "scheduler shutting down");
        await this.#closeWorkers("scheduler shutdown requested by a client");
        setImmediate(() => void this.close("client requested shutdown"));
        return "ok";
      },
    });
    this.#peers.add(rpc);
    comm.onClose(() => {
      this.#peers.delete(rpc);
      if (peer.kind === "worker") {
        const address = peer.address;
        this.#workerRpc.delete(address);
        this.#workerVersions.delete(address);
        if (this.state.workers.has(address)) {
          const retired = this.#retiring.delete(address);
          log().info({ worker: address, reason: retired ? "retired" : "connection closed" }, "worker removed");
          this.#run(this.state.removeWorker(address, this.#sid("worker-lost"), { died: !retired }));
        }
      } else if (peer.kind === "client") {
        if (this.#jobClient?.id === peer.id) void this.close("the job's client left");
        this.#clientRpc.delete(peer.id);
        this.#run(this.state.removeClient(peer.id, this.#sid("client-closed")));
      }
    });
  }

  /**
   * A worker is only as good as the address it advertises: the scheduler connects back to it
   * once (handshake included) before accepting it, so a worker listening on a network the
   * others cannot reach (the wrong --interface) is refused with a reason instead of failing
   * every transfer later.
   */
  async #probe(address: string): Promise<void> {
    try {
      const comm = await connect(address, this.secret, PROBE_TIMEOUT_MS, this.#comm);
      comm.close("reachability checked");
    } catch (err) {
      throw new Error(
        `the scheduler cannot reach this worker at ${address} (${describeError(err)}): a worker must listen where the scheduler and the other workers can connect; check --interface, --host or --contact-address`,
      );
    }
  }

  /** Carry out what the state machine asked for. */
  #run(instructions: Instruction[]): void {
    for (const ins of instructions) {
      const rpc = ins.type === "send-worker" ? this.#workerRpc.get(ins.worker) : this.#clientRpc.get(ins.client);
      if (!rpc || rpc.closed) continue;
      if (ins.msg.op === Op.computeTask) this.#shareFunction(rpc, ins.msg);
      // frees of one key each, in a row, travel as one list
      if (ins.msg.op === Op.freeKeys && (ins.msg.keys as string[]).length === 1) rpc.sendKey(Op.freeKeys, (ins.msg.keys as string[])[0]!);
      else rpc.send(ins.msg);
    }
  }

  /**
   * One object per distinct function (by content) for the scheduler's life, whichever message
   * brought it: functions are then sent to each worker once and named by number after that.
   */
  #canonicalFunctions(functions: unknown): unknown[] {
    if (!Array.isArray(functions)) throw new ProtocolError("update-graph: functions must be a list");
    return functions.map((f) => {
      const text = JSON.stringify(f);
      let canonical = this.#functionsByText.get(text);
      if (!canonical) this.#functionsByText.set(text, (canonical = f as object));
      return canonical;
    });
  }

  /** A function goes to each worker once; compute-task then names it by number. */
  #shareFunction(rpc: Rpc, msg: Message): void {
    const fn = msg.fn as object;
    let id = this.#functionIds.get(fn);
    if (id === undefined) this.#functionIds.set(fn, (id = this.#functionIds.size + 1));
    let sent = this.#functionsSent.get(rpc);
    if (!sent) this.#functionsSent.set(rpc, (sent = new Set()));
    msg.fn = id;
    if (!sent.has(id)) {
      sent.add(id);
      msg.fnDef = fn;
    }
  }

  /** Worker names or addresses -> addresses of connected workers. */
  #resolveWorkers(names: string[]): string[] {
    const out: string[] = [];
    for (const ws of this.state.workers.values()) if (names.includes(ws.name) || names.includes(ws.address)) out.push(ws.address);
    return out;
  }

  /**
   * Retire workers gracefully: no new tasks, results only they hold are copied to the other
   * workers first, then they are asked to close. Returns the retired addresses.
   */
  async retireWorkers(names: string[]): Promise<string[]> {
    const targets = this.#resolveWorkers(names);
    this.state.setClosing(targets);
    for (const addr of targets) {
      // let what it is running finish (bounded), so that nothing is computed twice
      const deadline = Date.now() + RETIRE_DRAIN_MS;
      while ((this.state.workers.get(addr)?.processing.size ?? 0) > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!this.state.workers.has(addr)) continue;
      const unique = this.state.uniqueKeys(addr).map((t) => t.spec.key);
      // results need a worker that stays: when all are retiring at once (a batch of workers
      // reaching their lifetime), wait a while for one to join (e.g. a restarted worker)
      let keep = [...this.state.workers.values()].filter((w) => !w.closing);
      while (unique.length && !keep.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        keep = [...this.state.workers.values()].filter((w) => !w.closing);
      }
      if (unique.length && keep.length) {
        const to = keep.reduce((a, b) => (a.nbytes <= b.nbytes ? a : b));
        await this.#workerRpc.get(addr)?.request({ op: Op.replicateTo, target: to.address, keys: unique }, 120_000);
      }
      this.#retiring.add(addr);
      const rpc = this.#workerRpc.get(addr);
      const gone = new Promise<void>((r) => (rpc ? rpc.comm.onClose(() => r()) : r()));
      rpc?.send({ op: Op.closeWorker, reason: "retired" });
      await Promise.race([gone, new Promise((r) => setTimeout(r, CLOSE_WORKERS_TIMEOUT_MS).unref())]);
    }
    return targets;
  }

  /** Forget all tasks (every future is cancelled) and give the workers fresh threads. */
  async #restart(): Promise<string> {
    this.#run(this.state.cancelAll("the cluster was restarted", this.#sid("restart")));
    await Promise.all([...this.#workerRpc.values()].map((w) => w.request({ op: Op.restart }, 30_000).catch(() => {})));
    return "ok";
  }

  #checkTtl(ttlMs: number): void {
    const now = Date.now();
    for (const ws of [...this.state.workers.values()]) {
      if (now - ws.lastSeen <= ttlMs) continue;
      log().warn({ worker: ws.address, reason: `no heartbeat for ${ttlMs} ms` }, "worker removed");
      this.#workerRpc.get(ws.address)?.close(`no heartbeat for ${ttlMs} ms`);
      this.#run(this.state.removeWorker(ws.address, this.#sid("worker-ttl")));
    }
  }

  /**
   * Close once nothing has happened for `timeoutMs`: no task queued or running, and no task
   * changed state since the last check (so work that came and went between checks counts).
   */
  #checkIdle(timeoutMs: number): void {
    const now = Date.now();
    const transitions = this.state.transitions;
    if (transitions !== this.#idle.transitions || !this.state.idle()) {
      this.#idle = { since: now, transitions };
    } else if (now - this.#idle.since >= timeoutMs && this.status === "running") {
      const reason = `idle for ${timeoutMs} ms (distributed.scheduler.idle-timeout)`;
      log().info({ reason }, "scheduler shutting down");
      void this.close(reason);
    }
  }

  identity(): Record<string, unknown> {
    const workers: Record<string, unknown> = {};
    for (const ws of this.state.workers.values()) {
      workers[ws.address] = {
        name: ws.name,
        host: ws.host,
        nthreads: ws.nthreads,
        memoryLimit: ws.memoryLimit,
        pid: ws.pid,
        processing: ws.processing.size,
        status: ws.paused ? "paused" : ws.closing ? "closing" : "running",
        inMemory: ws.hasWhat.size,
        metrics: ws.metrics,
      };
    }
    return { type: "Scheduler", id: this.id, address: this.address, hostname: hostname(), services: this.services, workers, failedWorkers: this.#failedWorkers };
  }

  /** Ask every worker to close and wait (bounded) until they have disconnected. */
  async #closeWorkers(reason: string): Promise<void> {
    const rpcs = [...this.#workerRpc.values()];
    const gone = rpcs.map((rpc) => new Promise<void>((r) => rpc.comm.onClose(() => r())));
    for (const rpc of rpcs) if (!rpc.closed) rpc.send({ op: Op.closeWorker, reason });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WORKERS_TIMEOUT_MS)));
    const late = await Promise.race([Promise.all(gone).then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) log().warn({ reason, timeoutMs: CLOSE_WORKERS_TIMEOUT_MS }, "some workers did not close in time");
  }

  /** Close workers, clients and the listener; remove the scheduler file. Idempotent. */
  async close(reason: string): Promise<void> {
    if (this.status === "closing" || this.status === "closed") return this.#closed;
    this.status = "closing";
    try {
      clearInterval(this.#ttlTimer);
      clearInterval(this.#idleTimer);
      await this.#dashboard?.close();
      clearTimeout(this.#jobClient?.timer);
      await this.#closeWorkers(reason);
      for (const rpc of this.#peers) {
        if (!rpc.closed) rpc.send({ op: Op.schedulerClosing, reason });
        rpc.close(reason);
      }
      await this.#listener?.close();
      if (this.#opts.schedulerFile) removeSchedulerFileSync(this.#opts.schedulerFile, this.id);
    } catch (err) {
      log().warn({ reason, err: describeError(err) }, "error while closing the scheduler");
    } finally {
      this.status = "closed";
      log().info({ reason }, "scheduler closed");
      this.#resolveClosed();
    }
    return this.#closed;
  }

  /**
   * For launchers whose job is one client program (srun dask-mpi-ts --no-mpi SCRIPT): close
   * once the first client to register has gone (its process ended, however it ended), or if
   * none registers within `connectTimeoutMs`.
   */
  closeWhenFirstClientLeaves(connectTimeoutMs: number): void {
    const timer = setTimeout(() => void this.close(`no client connected within ${connectTimeoutMs} ms`), connectTimeoutMs);
    this.#jobClient = { timer };
  }

  /** Synchronous last-resort cleanup for signal handlers: remove the scheduler file. */
  removeSchedulerFile(): void {
    if (this.#opts.schedulerFile) removeSchedulerFileSync(this.#opts.schedulerFile, this.id);
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
 * index into the message's `functions`, replaced here by that (shared) function object.
 */
function parseTasks(v: unknown, functions: unknown): TaskSpec[] {
  if (!Array.isArray(v)) throw new ProtocolError("update-graph: tasks must be a list");
  if (!Array.isArray(functions)) throw new ProtocolError("update-graph: functions must be a list");
  for (const t of v as Array<Record<string, unknown>>) {
    if (typeof t?.key !== "string" || !Array.isArray(t.args) || !Array.isArray(t.deps) || typeof t.fn !== "number" || !(t.fn in functions)) {
      throw new ProtocolError("update-graph: each task needs a string key, args parts, a deps list and a function index");
    }
    t.fn = functions[t.fn as number];
  }
  return v as TaskSpec[];
}
