/**
 * The scheduler's pure state machine: workers, the task graph and who needs what. No I/O.
 * Event methods take a stimulus id and return Instructions (messages to send) as data; the
 * server (scheduler/server.ts) carries them out.
 *
 * Task states have Dask's meanings:
 *   released   known (spec kept for lineage), no result anywhere, not needed now
 *   waiting    needed; some dependency is not in memory yet
 *   queued     needed and runnable; waits on the scheduler for a worker slot
 *   processing sent to a worker
 *   memory     result held by one or more workers
 *   erred      failed (itself, or a dependency did)
 *   forgotten  removed from the graph
 *
 * Cancelling (Dask's cancel) is no state of its own: a cancelled key and, recursively, every
 * task that depends on it are released (their clients hear key-cancelled with the reason) and
 * forgotten, dependents first, through the same transitions; a result a worker sends later for
 * such a key is dropped and freed there, and the story records that it was.
 *
 * Invariants:
 * - every state change goes through the transition table of state-transitions.ts, which also
 *   keeps the bounded transition log behind `story(key)`;
 * - a task is *needed* while a client wants it or a dependent waits for it; a task in memory
 *   that is no longer needed is released (its data freed on the workers), and a released task
 *   that no client wants and no task depends on is forgotten;
 * - `processing` tasks have `processingOn` set and sit in that worker's `processing` set;
 *   `memory` tasks have a non-empty `whoHas`; `queued` tasks have all dependencies in memory.
 *
 * Placement (which worker, how many slots, the queue): state-placement.ts. Records and results:
 * state-types.ts.
 */
import type { TaskSpec } from "../protocol/messages.js";
import { Op, type WireError } from "../protocol/ops.js";
import { occupied, prefixOf } from "./state-placement.js";
import { ARG_BLOCK_PART, ArgBlock } from "./state-sets.js";
import { addHolders, awaitScattered, lostScattered, restoreErred } from "./state-take-over.js";
import { missingData, releaseWorkerData, retry } from "./state-recovery.js";
import { TaskGraph, link, newRun, newTask, withDependents } from "./state-transitions.js";
import { FIRE_AND_FORGET, type Instruction, type SchedulerStateOptions, type StoryEntry, type TaskRecord, TaskState, type WorkerInfo, type WorkerRecord, type Workload } from "./state-types.js";

export * from "./state-types.js";
export { MAX_SATURATION, MIN_SATURATION } from "./state-placement.js";

/** The arguments of scattered data (none), shared. */
const NO_ARGS: Uint8Array[] = [];

/** Queued tasks workload() looks at (Dask's adaptive_target samples 100 too). */
const QUEUE_SAMPLE = 100;

export class SchedulerState {
  readonly clients = new Set<string>();
  readonly allowedFailures: number;
  /** Tasks computed so far per key prefix (a task group: its function's name), and in all. */
  readonly finishedByPrefix = new Map<string, number>();
  finished = 0;
  /** Tasks that erred on a worker (not counting dependents failed by them). */
  failed = 0;
  #g = new TaskGraph();
  #seq = 0;
  #workerSeq = 0;

  constructor(opts: SchedulerStateOptions = {}) {
    this.allowedFailures = opts.allowedFailures ?? 3; // SCHEDULER_DEFAULTS.allowedFailures (a pure core imports no options module)
    if (opts.now) this.#g.now = opts.now;
  }

  get workers(): ReadonlyMap<string, WorkerRecord> {
    return this.#g.workers;
  }

  get tasks(): ReadonlyMap<string, TaskRecord> {
    return this.#g.tasks;
  }

  /** Task state changes so far: a scheduler watching for idleness compares counts. */
  get transitions(): number {
    return this.#g.transitions;
  }

  /** EWMA of compute seconds per key prefix */
  get durations(): ReadonlyMap<string, number> {
    return this.#g.durations;
  }

  // ---- events -------------------------------------------------------------------------------

  addWorker(info: WorkerInfo, now: number): Instruction[] {
    this.#newWorker(info, now);
    this.#g.fill(`add-worker-${info.name}`);
    return this.#g.flush();
  }

  /** Take-over (state-take-over.ts): workers that outlived a scheduler, with the results they hold. */
  addWorkersHolding(entries: Array<{ info: WorkerInfo; held: Record<string, number> }>, now: number, stimulusId: string): { instructions: Instruction[]; unknown: Map<string, string[]> } {
    return addHolders(this.#g, entries.map(({ info, held }) => ({ ws: this.#newWorker(info, now), held })), stimulusId);
  }

  /** Take-over: keys the journal has as erred err again (dependents with them), not computed again. */
  restoreErred(errors: Iterable<[string, WireError]>, stimulusId: string): Instruction[] {
    return restoreErred(this.#g, errors, stimulusId);
  }

  /** Take-over: scattered keys the journal kept wait for their holders through the grace. */
  awaitScattered(client: string, keys: string[], stimulusId: string): Instruction[] {
    return awaitScattered(this.#g, client, keys, (key) => this.#scattered(key), stimulusId);
  }

  /** Take-over: the grace is over; scattered keys whose holder is not back are lost. */
  lostScattered(stimulusId: string): Instruction[] {
    return lostScattered(this.#g, stimulusId);
  }

  #scattered(key: string): TaskRecord {
    return newTask(key, this.#g.prefixOf(key), null, NO_ARGS, 0, this.#seq++);
  }

  #newWorker(info: WorkerInfo, now: number): WorkerRecord {
    const ws: WorkerRecord = {
      ...info,
      processing: new Set(),
      longRunning: new Set(),
      hasWhat: new Set(),
      nbytes: 0,
      lastSeen: now,
      joinedAt: now,
      metrics: {},
      used: {},
      closing: false,
      paused: false,
      load: 0,
      seq: this.#workerSeq++,
      bucket: -1, prevFree: undefined, nextFree: undefined,
    };
    this.#g.workers.set(info.address, ws);
    this.#g.workersChanged();
    this.#g.reweigh(ws);
    return ws;
  }

  /** A worker left or died: rerun what it was computing; recompute what only it held. */
  removeWorker(address: string, stimulusId: string, opts: { died?: boolean } = {}): Instruction[] {
    const ws = this.#g.workers.get(address);
    if (!ws) return [];
    this.#g.workers.delete(address);
    this.#g.workersChanged();
    this.#g.reweigh(ws);
    this.#g.names.forget(address);
    for (const t of [...ws.processing]) {
      if (t.state !== TaskState.processing || t.processingOn !== address) continue;
      // only tasks that were on a thread can have killed it; the rest were waiting their turn
      if ((opts.died ?? true) && t.running) t.suspicious++;
      this.#g.stopProcessing(t, ws);
      if (t.suspicious >= this.allowedFailures) {
        t.error = {
          name: "KilledWorkerError",
          message: `task ${JSON.stringify(t.key)} was running on ${t.suspicious} workers that died (allowed-failures is ${this.allowedFailures}); it is probably what kills them`,
          stack: "",
        };
        this.#g.transition(t, TaskState.erred, stimulusId);
      } else {
        this.#g.transition(t, this.#g.ready(t) ? TaskState.queued : TaskState.waiting, stimulusId);
      }
    }
    for (const t of ws.hasWhat) {
      t.whoHas = this.#g.names.without(t.whoHas, address);
      if (t.state === TaskState.memory && t.whoHas.size === 0) this.#g.lost(t, stimulusId);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** The worker's threads started these tasks: if it dies now, they are the suspects. */
  executing(address: string, keys: string[]): void {
    for (const key of keys) {
      const t = this.#g.tasks.get(key);
      if (t && t.state === TaskState.processing && t.processingOn === address) t.running = true;
    }
  }

  /** A task on `address` seceded (Dask's long-running): still processing there, but out of its occupancy (a task takes its place). */
  longRunning(address: string, key: string, stimulusId: string): Instruction[] {
    const t = this.#g.tasks.get(key);
    const ws = this.#g.workers.get(address);
    if (t && ws && t.state === TaskState.processing && t.processingOn === address) {
      ws.longRunning.add(t);
      this.#g.reweigh(ws);
      this.#g.fill(stimulusId);
    }
    return this.#g.flush();
  }

  /** Tasks processing on `address` that occupy a thread there (not seceded). */
  occupancy(address: string): number {
    const ws = this.#g.workers.get(address);
    return ws ? occupied(ws) : 0;
  }

  heartbeat(address: string, metrics: Record<string, unknown>, now: number): void {
    const ws = this.#g.workers.get(address);
    if (ws) {
      ws.lastSeen = now;
      ws.metrics = metrics;
    }
  }

  addClient(client: string): void {
    this.clients.add(client);
  }

  removeClient(client: string, stimulusId: string): Instruction[] {
    this.clients.delete(client);
    const keys: string[] = [];
    for (const t of this.#g.tasks.values()) if (t.wantedBy.has(client)) keys.push(t.key);
    this.#g.names.forget(client);
    return this.releaseKeys(client, keys, stimulusId);
  }

  /**
   * New tasks from a client (dependencies first or in any order within one batch). A key that
   * is already known just gains the client as a wanter, and the client hears its news.
   */
  updateGraph(client: string, specs: TaskSpec[], stimulusId: string): Instruction[] {
    const fresh: TaskRecord[] = [];
    const freshDeps: string[][] = [];
    // each spec's record, for the second pass (no second lookup of its key)
    const records: TaskRecord[] = new Array(specs.length);
    const blockParts: Uint8Array[] = [];
    const inBlock: TaskRecord[] = [];
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      const known = this.#g.tasks.get(spec.key);
      if (known && known.state !== TaskState.forgotten) {
        records[i] = known;
        continue;
      }
      const placement = spec.workers || spec.resources ? { workers: spec.workers, allowOtherWorkers: spec.allowOtherWorkers, resources: spec.resources } : undefined;
      const one = spec.args.length === 1 && spec.args[0]!.byteLength <= ARG_BLOCK_PART;
      // the arguments are copied (the caller's may be views into a whole message): small single parts into one block below
      const t = newTask(spec.key, this.#g.prefixOf(spec.key), spec.fn, one ? NO_ARGS : spec.args.map((p) => new Uint8Array(p)), 0, this.#seq++, { priority: spec.priority, retries: spec.retries, placement });
      if (one) {
        t.argIndex = blockParts.length;
        blockParts.push(spec.args[0]!);
        inBlock.push(t);
      }
      this.#g.tasks.set(spec.key, t);
      records[i] = t;
      fresh.push(t);
      freshDeps.push(spec.deps);
    }
    if (blockParts.length) {
      const block = ArgBlock.of(blockParts);
      for (const t of inBlock) t.args = block;
    }
    // a task on a key the scheduler does not know (cancelled, or released) can never run
    const orphans = new Map<TaskRecord, string>();
    for (let i = 0; i < fresh.length; i++) {
      const t = fresh[i]!;
      const keys = freshDeps[i]!;
      if (keys.length === 0) continue;
      const deps: TaskRecord[] = [];
      const seen = keys.length > 16 ? new Set<TaskRecord>() : undefined; // a short list is searched
      for (const depKey of keys) {
        const dep = this.#g.tasks.get(depKey);
        if (!dep) {
          if (!orphans.has(t)) orphans.set(t, depKey);
          continue;
        }
        if (seen ? seen.has(dep) : deps.includes(dep)) continue;
        seen?.add(dep);
        deps.push(dep);
        link(dep, "dependents", t);
      }
      if (deps.length) t.dependencies = deps.slice(); // an exact-size copy: a growing list keeps room for 16
    }
    const doomed = new Set<TaskRecord>();
    for (const t of orphans.keys()) for (const d of withDependents(t)) doomed.add(d);
    for (const t of records) {
      t.wantedBy = this.#g.names.with(t.wantedBy, client);
      if (doomed.has(t)) continue;
      if (t.state === TaskState.memory) this.#g.sendClient(client, { op: Op.keyInMemory, key: t.key, nbytes: t.nbytes });
      else if (t.state === TaskState.erred) this.#g.sendClient(client, this.#g.erredMsg(t));
      else if (t.state === TaskState.released) this.#g.transition(t, TaskState.waiting, stimulusId);
    }
    for (const [t, depKey] of orphans) this.#g.cancel(t, `it depends on ${JSON.stringify(depKey)}, which the scheduler does not know (cancelled or released)`, stimulusId);
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /**
   * `client` wants keys it did not submit: a future another client gave it (a dataset, a
   * queue's item), or an extension holding keys under a name of its own ("published-x"). It
   * becomes a wanter and hears each key's news; a released key is computed again. A key the
   * scheduler no longer knows is answered with key-cancelled.
   */
  wantKeys(client: string, keys: string[], stimulusId: string): Instruction[] {
    for (const key of keys) {
      const t = this.#g.tasks.get(key);
      if (!t || t.state === TaskState.forgotten) {
        this.#g.sendClient(client, { op: Op.keyCancelled, key, reason: "the scheduler no longer knows it (it was released or cancelled)" });
        continue;
      }
      t.wantedBy = this.#g.names.with(t.wantedBy, client);
      if (t.state === TaskState.memory) this.#g.sendClient(client, { op: Op.keyInMemory, key, nbytes: t.nbytes });
      else if (t.state === TaskState.erred) this.#g.sendClient(client, this.#g.erredMsg(t));
      else if (t.state === TaskState.released) this.#g.transition(t, TaskState.waiting, stimulusId);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** Data put on a worker directly by a client (scatter): the keys are in memory there (lost, if that worker has left). */
  addData(client: string, worker: string, entries: Array<{ key: string; nbytes: number }>, stimulusId: string): Instruction[] {
    const ws = this.#g.workers.get(worker);
    for (const { key, nbytes } of entries) {
      let t = this.#g.tasks.get(key);
      if (!t) this.#g.tasks.set(key, (t = this.#scattered(key)));
      t.wantedBy = this.#g.names.with(t.wantedBy, client);
      t.nbytes = nbytes;
      if (ws) this.#g.addReplica(t, ws);
      if (t.state !== TaskState.memory && ws) {
        t.run = newRun(); // the scattered value's number: copies of it fetched elsewhere carry it
        this.#g.transition(t, TaskState.memory, stimulusId);
      }
      if (t.state === TaskState.memory) this.#g.sendClient(client, { op: Op.keyInMemory, key, nbytes });
      else if (t.fn === null && t.state === TaskState.released) {
        // its worker left before this message came: nothing holds it, and it has no lineage
        t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(key)} was lost: its worker ${worker} left before the scheduler heard where it was`, stack: "" };
        this.#g.transition(t, TaskState.erred, stimulusId); // tells its clients
      }
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** `value`: a small result's encoded parts, passed on to the clients (not kept here). */
  taskFinished(worker: string, key: string, nbytes: number, durationS: number, stimulusId: string, value?: unknown, run?: number): Instruction[] {
    const t = this.#g.tasks.get(key);
    const ws = this.#g.workers.get(worker);
    // a run of the key before its current one (cancelled and submitted again meanwhile) is stale
    if (t && ws && t.state === TaskState.processing && t.processingOn === worker && (run === undefined || run === t.run)) {
      this.#g.stopProcessing(t, ws);
      const prefix = t.prefix;
      this.#recordDuration(prefix, durationS);
      this.finished++;
      this.finishedByPrefix.set(prefix, (this.finishedByPrefix.get(prefix) ?? 0) + 1);
      t.nbytes = nbytes;
      this.#g.addReplica(t, ws);
      this.#g.inline = value;
      this.#g.transition(t, TaskState.memory, stimulusId);
      this.#g.inline = undefined;
    } else {
      // a result nobody waits for from this worker any more (cancelled, released, rescheduled):
      // it goes to no one, and is freed there
      this.#g.dropped(key, t, worker, "result", stimulusId);
      // freed there, unless that worker now runs the key again (a free would hit the new run) or holds its current value
      if (ws && t?.processingOn !== worker && !t?.whoHas.has(worker)) this.#g.freeKey(worker, key);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  taskErred(worker: string, key: string, error: WireError, stimulusId: string, run?: number): Instruction[] {
    const t = this.#g.tasks.get(key);
    const ws = this.#g.workers.get(worker);
    if (t && ws && t.state === TaskState.processing && t.processingOn === worker && (run === undefined || run === t.run)) {
      this.#g.stopProcessing(t, ws);
      if (t.retriesLeft > 0) {
        t.retriesLeft--;
        this.#g.transition(t, TaskState.queued, stimulusId);
      } else {
        t.error = error;
        this.failed++;
        this.#g.transition(t, TaskState.erred, stimulusId);
      }
    } else {
      this.#g.dropped(key, t, worker, "error", stimulusId);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** A worker could not get a dependency (state-recovery.ts). */
  missingData(worker: string, key: string, missing: string, holders: string[], stimulusId: string, run?: number): Instruction[] {
    return missingData(this.#g, worker, key, missing, holders, stimulusId, run);
  }

  /** A worker no longer holds these values, though nobody freed them (state-recovery.ts). */
  releaseWorkerData(worker: string, keys: string[], runs: Record<string, number>, stimulusId: string): Instruction[] {
    return releaseWorkerData(this.#g, worker, keys, runs, stimulusId);
  }

  /** Erred tasks run again, as Dask's `retry` (state-recovery.ts). */
  retry(keys: string[], stimulusId: string): { keys: string[]; instructions: Instruction[] } {
    return retry(this.#g, keys, stimulusId);
  }

  /** The client no longer wants these keys. */
  releaseKeys(client: string, keys: string[], stimulusId: string): Instruction[] {
    for (const key of keys) {
      const t = this.#g.tasks.get(key);
      if (!t || !t.wantedBy.has(client)) continue;
      t.wantedBy = this.#g.names.without(t.wantedBy, client);
      this.#g.maybeRelease(t, stimulusId);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /**
   * Cancel these keys and, recursively, every task that depends on them, for every client:
   * each client that wanted one hears key-cancelled with `reason` (or, for a dependent, which
   * cancelled key it depends on); running work is stopped and results are freed.
   */
  cancelKeys(keys: string[], stimulusId: string, reason = "cancelled"): Instruction[] {
    for (const key of keys) {
      const t = this.#g.tasks.get(key);
      if (t) this.#g.cancel(t, reason, stimulusId);
    }
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** Cancel every task, all for the same reason (a restart). */
  cancelAll(reason: string, stimulusId: string): Instruction[] {
    for (const t of [...this.#g.tasks.values()]) if (t.state !== TaskState.forgotten) this.#g.cancel(t, reason, stimulusId, reason);
    this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** A worker paused (memory above its pause threshold) or resumed; resuming fills it again. */
  setPaused(address: string, paused: boolean, stimulusId: string): Instruction[] {
    const ws = this.#g.workers.get(address);
    if (ws) {
      ws.paused = paused;
      this.#g.reweigh(ws);
    }
    if (!paused) this.#g.fill(stimulusId);
    return this.#g.flush();
  }

  /** Stop giving tasks to these workers (they are retiring). */
  setClosing(addresses: string[]): void {
    for (const a of addresses) {
      const ws = this.#g.workers.get(a);
      if (ws) {
        ws.closing = true;
        this.#g.reweigh(ws);
      }
    }
  }

  /** Keys held only by `address` among the workers, for retirement. */
  uniqueKeys(address: string): TaskRecord[] {
    const ws = this.#g.workers.get(address);
    return ws ? [...ws.hasWhat].filter((t) => t.whoHas.size === 1) : [];
  }

  /** A worker got a copy of a key's value numbered `run` (a fetch, replication); false when the key no longer has that value in memory (a stray copy). */
  addReplica(key: string, address: string, run: number): boolean {
    const t = this.#g.tasks.get(key);
    const ws = this.#g.workers.get(address);
    if (!t || !ws || t.state !== TaskState.memory || t.run !== run) return false;
    this.#g.addReplica(t, ws);
    return true;
  }

  /** Keep these keys' tasks running, and their results till they finish, whoever lets go (fire-and-forget); returns those taken (journaled). A key finished, erred or unknown is left alone. */
  fireAndForget(keys: string[]): string[] {
    return keys.filter((key) => {
      const t = this.#g.tasks.get(key);
      if (!t || t.state === TaskState.memory || t.state === TaskState.erred || t.state === TaskState.forgotten) return false;
      t.wantedBy = this.#g.names.with(t.wantedBy, FIRE_AND_FORGET);
      return true;
    });
  }

  /** Drop `address`'s copy of a key held elsewhere too (rebalance, replicate); false if it is not such a copy, or a task there needs it. */
  removeReplica(key: string, address: string): Instruction[] | false {
    const t = this.#g.tasks.get(key);
    const ws = this.#g.workers.get(address);
    if (!t || !ws || t.state !== TaskState.memory || !t.whoHas.has(address) || t.whoHas.size < 2 || [...t.dependents].some((d) => d.processingOn === address)) return false;
    t.whoHas = this.#g.names.without(t.whoHas, address);
    ws.hasWhat.delete(t);
    ws.nbytes -= t.nbytes;
    this.#g.freeKey(address, key);
    return this.#g.flush();
  }

  #recordDuration(p: string, seconds: number): void {
    if (!(seconds >= 0)) return;
    const old = this.#g.durations.get(p);
    this.#g.durations.set(p, old === undefined ? seconds : 0.7 * old + 0.3 * seconds);
  }

  // ---- queries ------------------------------------------------------------------------------


  /** Holders of `keys` (default: of every key in memory). */
  whoHas(keys?: string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    if (keys) for (const k of keys) out[k] = [...(this.#g.tasks.get(k)?.whoHas ?? [])];
    else for (const t of this.#g.tasks.values()) if (t.whoHas.size) out[t.key] = [...t.whoHas];
    return out;
  }

  /** The key's transitions still in the log, oldest first. */
  story(key: string): StoryEntry[] {
    return this.#g.story(key);
  }

  /** No task is queued or running (those waiting on others wait on one of these). */
  idle(): boolean {
    if (this.#g.queue.size > 0) return false;
    for (const ws of this.#g.workers.values()) if (ws.processing.size > 0) return false;
    return true;
  }

  /**
   * The pending work adaptive scaling sizes the cluster by (Dask's adaptive_target inputs):
   * expected seconds of compute queued and processing, from the measured duration of each
   * task's key prefix, or `unknownDurationS` for a prefix never seen finishing. The queue is
   * sampled (its first 100 tasks, scaled up), so the cost does not grow with a huge backlog.
   */
  workload(unknownDurationS: number): Workload {
    const expected = (t: TaskRecord) => this.#g.durations.get(t.prefix) ?? unknownDurationS;
    const sample = this.#g.queue.first(QUEUE_SAMPLE);
    let queuedSeconds = 0;
    for (const t of sample) queuedSeconds += expected(t);
    if (sample.length) queuedSeconds *= this.#g.queue.size / sample.length;
    let processingSeconds = 0;
    let processingTasks = 0;
    let nthreads = 0;
    const idle: WorkerRecord[] = [];
    let nbytes = 0;
    let memoryLimit = 0;
    let unlimited = 0;
    for (const ws of this.#g.workers.values()) {
      nthreads += ws.nthreads;
      nbytes += ws.nbytes;
      if (ws.memoryLimit > 0) memoryLimit += ws.memoryLimit;
      else unlimited++;
      processingTasks += ws.processing.size;
      for (const t of ws.processing) processingSeconds += expected(t);
      if (ws.processing.size === 0 && !ws.closing) idle.push(ws);
    }
    const idleWorkers = idle.sort((a, b) => a.nbytes - b.nbytes).map((ws) => ({ name: ws.name, nbytes: ws.nbytes, memoryLimit: ws.memoryLimit }));
    return { queuedTasks: this.#g.queue.size, queuedSeconds, processingTasks, processingSeconds, workers: this.#g.workers.size, nthreads, nbytes, memoryLimit, unlimited, idleWorkers };
  }

  /** A key's task group: the part before the first "-" (the function's name, for submitted tasks). */
  prefixOf(key: string): string {
    return prefixOf(key);
  }

  /** Counts of tasks per state. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.#g.tasks.values()) out[t.state] = (out[t.state] ?? 0) + 1;
    return out;
  }
}
