/**
 * The scheduler process's I/O shell: accepts authenticated connections, turns messages into
 * SchedulerState events, and carries out the instructions those return.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type CommOptions, DEFAULT_COMM, listen } from "../comm/connect.js";
import { type TlsContext, loadTls } from "../comm/tls.js";
import type { Comm, Listener } from "../comm/types.js";
import { CommClosedError, ConfigError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { Op } from "../protocol/ops.js";
import type { Message, SchedulerIdentity, WorkerIdentity } from "../protocol/messages.js";
import { type ExtensionJournal, Extensions, type SchedulerView } from "./extension.js";
import { FunctionTable } from "../protocol/functions.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { type FailedWorker, type HandlerHost, SchedulerHandlers } from "./handlers.js";
import { HandedKeys } from "./handed-keys.js";
import { type Peer, Peers, probeWorker } from "./peers.js";
import { Locality } from "./locality.js";
import { type QueueSource, type WhyPending, whyPending } from "./pending.js";
import { type Instruction, SchedulerState } from "./state.js";
import { SCHEDULER_DEFAULTS, type SchedulerOptions } from "./options.js";
import { removeSchedulerFileSync, writeSchedulerFile } from "../comm/scheduler-file.js";
import type { Status } from "../status.js";
import { Journal } from "./journal.js";
import { TakeOver } from "./take-over.js";
import { JOURNAL_DEFAULTS } from "./options.js";

export type { FailedWorker } from "./handlers.js";

const log = () => logger("scheduler");
const CLOSE_WORKERS_TIMEOUT_MS = 5000;
/** How long a retiring worker may take to finish what it is running. */
const RETIRE_DRAIN_MS = 60_000;

export class Scheduler implements SchedulerView {
  readonly id = `Scheduler-${randomUUID()}`;
  readonly state: SchedulerState;
  readonly secret: string;
  address = "";
  status: Status = "init";
  #opts: SchedulerOptions;
  #listener: Listener | undefined;
  #peers = new Peers((peer) => this.#closed(peer));
  /** unbounded: queued tasks name their function by number until they run */
  #functions = new FunctionTable({ limit: Infinity });
  #extensions: Extensions | undefined;
  #ttlTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Since when nothing has happened, and the transition count then (idle-timeout). */
  #idle = { since: 0, transitions: -1 };
  #whenClosed: Promise<void>;
  #resolveClosed!: () => void;
  #stimulus = 0;
  #retiring = new Set<string>();
  #locality: Locality;
  /** keys handed to clients that have not adopted them yet */
  readonly #handed = new HandedKeys();
  #failedWorkers: FailedWorker[] = [];
  #tls: TlsContext | undefined;
  /** What else listens next to the scheduler, by name: `dashboard` (its URL) when it runs. */
  readonly services: Record<string, string> = {};
  /** The job queue's side of "why pending?" (scheduler/pending.ts): set by a job-queue cluster. */
  queue: QueueSource | undefined;
  /** closeWhenFirstClientLeaves(): waiting for that client (undefined), or its id once it came */
  #jobClient: { id?: string; timer: NodeJS.Timeout } | undefined;
  /** The journal and take-over (--journal), when on. */
  #takeOver: TakeOver | undefined;
  /** Closing for a signal with a journal: the workers and clients stay for the next scheduler. */
  #handingOver = false;

  /** Why task `key` (or, without one, the pending work) does not run: the scheduler's reasons and the queue's (pending.ts). */
  async whyPending(key?: string): Promise<WhyPending> {
    return whyPending(this.state, key, await this.queue?.report());
  }

  private constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.secret = opts.secret;
    this.state = new SchedulerState({ allowedFailures: opts.allowedFailures ?? SCHEDULER_DEFAULTS.allowedFailures });
    this.#locality = new Locality({ state: this.state, workers: this.#peers.workers, run: (ins) => this.#run(ins), copiedScattered: (k, w, n) => this.#takeOver?.copied(k, w, n), durable: () => this.#takeOver?.journal.durable() ?? Promise.resolve(), resumed: () => this.#takeOver?.resumed ?? Promise.resolve() });
    this.#whenClosed = new Promise((r) => (this.#resolveClosed = r));
  }

  /** Listen, write the scheduler file if asked, and serve. */
  static async start(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    await s.#start();
    return s;
  }

  /** Resolves once the scheduler has closed (e.g. after a client's shutdown()). */
  get closed(): Promise<void> {
    return this.#whenClosed;
  }

  get #comm(): CommOptions {
    return { ...(this.#opts.comm ?? DEFAULT_COMM), tls: this.#tls };
  }

  async #start(): Promise<void> {
    this.status = "starting";
    if (this.#opts.dashboardAddress !== undefined) {
      throw new ConfigError("the scheduler serves no dashboard itself: pass extensions: [dashboardExtension(address)] (dashboard/index.ts), or withDashboard(options) (deploy/dashboard.ts)");
    }
    // extensions (the dashboard's modules) load while the scheduler's socket opens (start-up time matters)
    const loading = Extensions.load(this.#opts.extensions ?? []);
    loading.catch(() => {}); // awaited below
    this.#tls = this.#opts.tls ? loadTls(this.#opts.tls) : undefined;
    if (this.#opts.journal) await this.#openJournal(this.#opts.journal);
    this.#listener = await listen({ protocol: this.#opts.protocol, interface: this.#opts.interface, host: this.#opts.host, port: this.#opts.port }, this.secret, (comm) => this.#accept(comm), this.#comm);
    this.address = this.#listener.address;
    try {
      this.#extensions = await loading;
      this.#peers.setRoutes(new SchedulerHandlers(this.#handlerHost(this.#extensions)).routes());
      Object.assign(this.services, await this.#extensions.start(this, this.#listener.hosts));
    } catch (err) {
      // a scheduler that failed to start leaves nothing listening
      await this.#extensions?.close("the scheduler failed to start").catch(() => {});
      await this.#takeOver?.close();
      await this.#listener.close();
      throw err;
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

  /** Open the journal (taking its lock) and put its live graphs back (take-over.ts). */
  async #openJournal(j: NonNullable<SchedulerOptions["journal"]>): Promise<void> {
    const journal = await Journal.open(j.directory, {
      owner: this.id,
      leaseMs: j.leaseMs ?? JOURNAL_DEFAULTS.leaseMs,
      syncMs: j.syncMs ?? JOURNAL_DEFAULTS.syncMs,
      onLockLost: (why) => {
        log().error({ reason: why }, "lost the journal's lock");
        void this.close(why);
      },
    });
    if (journal.lock.tookOver) log().warn({ journal: j.directory, reason: journal.lock.tookOver }, "journal lock taken over");
    this.#takeOver = new TakeOver({
      journal,
      state: this.state,
      functions: this.#functions,
      run: (ins) => this.#run(ins),
      sid: (what) => this.#sid(what),
      workerRpc: (address) => this.#peers.workers.get(address),
      clientConnected: (id) => this.#peers.clients.has(id),
      graceMs: j.graceMs ?? JOURNAL_DEFAULTS.graceMs,
      clientTimeoutMs: j.clientTimeoutMs ?? JOURNAL_DEFAULTS.clientTimeoutMs,
      checkpointAll: j.checkpoint ?? JOURNAL_DEFAULTS.checkpoint,
    });
    try {
      this.#takeOver.replay();
    } catch (err) {
      await this.#takeOver.close();
      throw err;
    }
  }

  /** The journal and take-over, when this scheduler has a journal (tests, bench). */
  get takeOver(): TakeOver | undefined {
    return this.#takeOver;
  }

  #sid(what: string): string {
    return `${what}-${++this.#stimulus}`;
  }

  #accept(comm: Comm): void {
    if (this.status !== "running") {
      comm.close("scheduler is closing");
      return;
    }
    this.#peers.accept(comm);
  }

  /** What the handlers may do here (handlers.ts): the scheduler's insides, for them only. */
  #handlerHost(extensions: Extensions): HandlerHost {
    return {
      view: this,
      peers: this.#peers,
      functions: this.#functions,
      extensions,
      takeOver: this.#takeOver,
      locality: this.#locality,
      handed: this.#handed,
      failedWorkers: this.#failedWorkers,
      runContext: { scheduler: this },
      workerTtlMs: this.#opts.workerTtlMs === undefined ? SCHEDULER_DEFAULTS.workerTtlMs : this.#opts.workerTtlMs,
      sid: (what: string) => this.#sid(what),
      run: (ins: Instruction[]) => this.#run(ins),
      probe: (address: string) => probeWorker(address, this.secret, this.#comm),
      resolveWorkers: (names: string[]) => this.#resolveWorkers(names),
      clientRegistered: (id: string) => {
        if (this.#jobClient && this.#jobClient.id === undefined) {
          clearTimeout(this.#jobClient.timer);
          this.#jobClient.id = id;
        }
      },
      restart: () => this.#restart(),
      shutdown: async () => {
        log().info({ reason: "client requested shutdown" }, "scheduler shutting down");
        await this.#closeWorkers("scheduler shutdown requested by a client");
        setImmediate(() => void this.close("client requested shutdown"));
        return "ok";
      },
    };
  }

  /** A connection closed (peers.ts has taken it out of its tables). */
  #closed(peer: Peer): void {
    // handing over (close() for a signal, with a journal): nothing is released, nothing journaled
    if (this.#handingOver) return;
    if (peer.kind === "worker") {
      const address = peer.address;
      if (this.#takeOver?.workerGone(address)) return;
      if (this.state.workers.has(address)) {
        this.#takeOver?.workerLeft(address);
        const retired = this.#retiring.delete(address);
        const reason = retired ? "retired" : "connection closed";
        log().info({ worker: address, reason }, "worker removed");
        this.#run(this.state.removeWorker(address, this.#sid("worker-lost"), { died: !retired }));
        for (const h of this.#extensions?.workerRemoved ?? []) h(address, reason);
      }
    } else if (peer.kind === "client") {
      if (this.#jobClient?.id === peer.id) void this.close("the job's client left");
      this.#takeOver?.clientLeft(peer.id);
      this.#handed.forget(peer.id);
      this.#run(this.state.removeClient(peer.id, this.#sid("client-closed")));
      for (const h of this.#extensions?.clientRemoved ?? []) h(peer.id);
    }
  }

  /** Carry out what the state machine asked for. */
  #run(instructions: Instruction[]): void {
    for (const ins of instructions) {
      const rpc = ins.type === "send-worker" ? this.#peers.workers.get(ins.worker) : this.#peers.clients.get(ins.client);
      if (!rpc || rpc.closed) continue;
      if (ins.msg.op === Op.computeTask && ins.type === "send-worker") {
        // big arguments: a batch of compute-tasks must not pass the worker's frame cap together,
        // and one over it alone could never reach it (the worker would close the connection);
        // checked first: a task not sent must not count its function as sent
        let bytes = 0;
        for (const p of ins.msg.args as Uint8Array[]) bytes += p.byteLength;
        if (bytes > rpc.comm.share) {
          const message = `the arguments of ${JSON.stringify(ins.msg.key)} are ${bytes} bytes, over the largest frame the worker ${ins.worker} takes (${rpc.comm.peerMaxFrameBytes} bytes, its distributed.comm.max-frame-size, less ${rpc.comm.peerMaxFrameBytes - rpc.comm.share} for the message): split the data, or raise distributed.comm.max-frame-size on the workers (at most 4 GiB - 1)`;
          this.#run(this.state.taskErred(ins.worker, ins.msg.key as string, { name: "FrameTooLargeError", message, stack: "" }, this.#sid("frame-too-large"), ins.msg.run as number | undefined));
          continue;
        }
        // a function goes to each worker once; compute-task names it by number
        const def = this.#functions.sendOnce(rpc, ins.msg.fn as number);
        if (def !== undefined) ins.msg.fnDef = def;
        const checkpoint = this.#takeOver?.checkpointOf(ins.msg.key as string);
        if (checkpoint) ins.msg.checkpoint = checkpoint;
        if (bytes >= RAW_PART_BYTES) {
          rpc.send(ins.msg, bytes);
          continue;
        }
      }
      // frees of one key each, in a row, travel as one list
      if (ins.msg.op === Op.freeKeys && (ins.msg.keys as string[]).length === 1) rpc.sendKey(Op.freeKeys, (ins.msg.keys as string[])[0]!);
      else rpc.send(ins.msg);
    }
  }

  /** Worker names or addresses -> addresses of connected workers. */
  #resolveWorkers(names: string[]): string[] {
    const out: string[] = [];
    for (const ws of this.state.workers.values()) if (names.includes(ws.name) || names.includes(ws.address)) out.push(ws.address);
    return out;
  }

  /**
   * Retire workers gracefully (returns the retired addresses): let them finish what they run, move the results only they hold
   * to a worker that stays, then close them. Calls take turns: workers reaching their lifetime
   * together each ask for their own retirement, and were they all closing at once none would
   * be left to take the results (a --lifetime-restart replacement comes only after a close), so
   * the first would wait out the drain deadline and close with its results, to be recomputed.
   */
  retireWorkers(names: string[], o: { drainMs?: number } = {}): Promise<string[]> {
    // a worker whose job ends soon has until then, whatever the turns: a bound from now
    const bound = o.drainMs === undefined ? undefined : { from: Date.now(), ms: Math.min(RETIRE_DRAIN_MS, o.drainMs) };
    const turn = this.#retireTurns.then(() => this.#retire(names, bound));
    this.#retireTurns = turn.catch(() => undefined);
    return turn;
  }

  #retireTurns: Promise<unknown> = Promise.resolve();

  async #retire(names: string[], bound: { from: number; ms: number } | undefined): Promise<string[]> {
    const targets = this.#resolveWorkers(names);
    this.state.setClosing(targets);
    for (const addr of targets) {
      // let what it is running finish (bounded), so that nothing is computed twice; what is
      // still running then is handed over: the worker leaves retired, and its tasks are
      // rescheduled elsewhere without counting against them
      const { from, ms } = bound ?? { from: Date.now(), ms: RETIRE_DRAIN_MS };
      const deadline = from + ms;
      while ((this.state.workers.get(addr)?.processing.size ?? 0) > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!this.state.workers.has(addr)) continue;
      const unique = this.state.uniqueKeys(addr).map((t) => t.key);
      // results need a worker that stays: when all are retiring at once (a batch of workers
      // reaching their lifetime), wait a while for one to join (e.g. a restarted worker)
      let keep = [...this.state.workers.values()].filter((w) => !w.closing);
      // (up to 1.6 drains: a worker whose job ends spends at most 80 % of its margin here)
      const keepDeadline = Math.min(from + RETIRE_DRAIN_MS, from + 1.6 * ms);
      while (unique.length && !keep.length && Date.now() < keepDeadline) {
        await new Promise((r) => setTimeout(r, 50));
        keep = [...this.state.workers.values()].filter((w) => !w.closing);
      }
      if (unique.length && keep.length) {
        // not to a worker retiring as soon (the other workers of its batch job), when another will stay
        const ends = this.state.workers.get(addr)?.retiresAt;
        const later = keep.filter((w) => ends === undefined || w.retiresAt === undefined || w.retiresAt > ends + 1000);
        const to = (later.length ? later : keep).reduce((a, b) => (a.nbytes <= b.nbytes ? a : b));
        // recorded here: the target's own add-replica may come after this worker has closed; on
        // disk before it closes (its copies of scattered data are the only ones)
        await this.#locality.copy(addr, to.address, unique);
        await this.#takeOver?.journal.durable();
      }
      this.#retiring.add(addr);
      const rpc = this.#peers.workers.get(addr);
      const gone = new Promise<void>((r) => (rpc ? rpc.comm.onClose(() => r()) : r()));
      rpc?.send({ op: Op.closeWorker, reason: "retired" });
      await Promise.race([gone, new Promise((r) => setTimeout(r, CLOSE_WORKERS_TIMEOUT_MS).unref())]);
    }
    return targets;
  }

  /** Forget all tasks (every future is cancelled) and give the workers fresh threads. */
  async #restart(): Promise<string> {
    this.#takeOver?.cancelled(null);
    this.#handed.forget();
    this.#run(this.state.cancelAll("the cluster was restarted", this.#sid("restart")));
    await Promise.all([...this.#peers.workers.values()].map((w) => w.request({ op: Op.restart }, 30_000).catch(() => {})));
    return "ok";
  }

  #checkTtl(ttlMs: number): void {
    const now = Date.now();
    for (const ws of [...this.state.workers.values()]) {
      if (now - ws.lastSeen <= ttlMs) continue;
      log().warn({ worker: ws.address, reason: `no heartbeat for ${ttlMs} ms` }, "worker removed");
      this.#peers.workers.get(ws.address)?.close(`no heartbeat for ${ttlMs} ms`);
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

  identity(): SchedulerIdentity {
    const workers: Record<string, WorkerIdentity> = {};
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
        resources: ws.resources ?? {},
        ...(ws.retiresAt === undefined ? {} : { retiresAt: ws.retiresAt }),
      };
    }
    return { type: "Scheduler", id: this.id, address: this.address, hostname: hostname(), services: this.services, workers, failedWorkers: this.#failedWorkers };
  }


  wantKeys(client: string, keys: string[]): string[] {
    const unknown = keys.filter((k) => (this.state.tasks.get(k)?.state ?? "forgotten") === "forgotten");
    this.#takeOver?.wanted(client, keys);
    this.#run(this.state.wantKeys(client, keys, this.#sid("want-keys")));
    return unknown;
  }

  handKeys(client: string, keys: string[]): void {
    this.#handed.hand(client, keys);
    this.wantKeys(client, keys);
  }

  releaseKeys(client: string, keys: string[]): void {
    this.#takeOver?.released(client, keys);
    this.#run(this.state.releaseKeys(client, keys, this.#sid("release-keys")));
  }

  get journal(): ExtensionJournal | undefined {
    const j = this.#takeOver?.journal;
    if (!j) return undefined;
    return {
      restored: (extension) => this.#takeOver!.restored(extension),
      put: (extension, name, value) => j.ext(extension, name, value),
      durable: () => j.durable(),
    };
  }

  sendToClient(client: string, msg: Message, bytes?: number): boolean {
    const rpc = this.#peers.clients.get(client);
    if (!rpc || rpc.closed) return false;
    rpc.send(msg, bytes);
    return true;
  }

  connectedWorkers(): string[] {
    return [...this.#peers.workers.keys()];
  }

  requestWorker(address: string, msg: Message, timeoutMs: number): Promise<unknown> {
    const rpc = this.#peers.workers.get(address);
    if (!rpc || rpc.closed) return Promise.reject(new CommClosedError(`worker ${address} is not connected`));
    return rpc.request(msg, timeoutMs);
  }

  /** Ask every worker to close and wait (bounded) until they have disconnected. */
  async #closeWorkers(reason: string): Promise<void> {
    const rpcs = [...this.#peers.workers.values()];
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
    if (this.status === "closing" || this.status === "closed") return this.#whenClosed;
    this.status = "closing";
    try {
      clearInterval(this.#ttlTimer);
      clearInterval(this.#idleTimer);
      await this.#extensions?.close(reason);
      clearTimeout(this.#jobClient?.timer);
      // a journaled scheduler stopped from outside (a signal: scancel, its job's walltime, a
      // login node's limits) hands over: its workers keep their results for the next scheduler
      // on the journal, and its clients wait for that one (no scheduler-closing)
      const handOver = (this.#handingOver = this.#takeOver !== undefined && reason.startsWith("received SIG"));
      if (!handOver) await this.#closeWorkers(reason);
      for (const rpc of this.#peers.all()) {
        if (!rpc.closed && !handOver) rpc.send({ op: Op.schedulerClosing, reason });
        rpc.close(reason);
      }
      await this.#listener?.close();
      await this.#takeOver?.close();
      if (this.#opts.schedulerFile) removeSchedulerFileSync(this.#opts.schedulerFile, this.id);
    } catch (err) {
      log().warn({ reason, err: describeError(err) }, "error while closing the scheduler");
    } finally {
      this.status = "closed";
      log().info({ reason }, "scheduler closed");
      this.#resolveClosed();
    }
    return this.#whenClosed;
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
