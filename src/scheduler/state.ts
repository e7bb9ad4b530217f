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
 * - every state change goes through #transition, which consults the TRANSITIONS table and
 *   appends to the transition log (key, stimulus id, from, to, time) — like Dask's, one bounded
 *   log for all tasks, so `story(key)` tells a key's recent history at no per-task cost;
 * - a task is *needed* while a client wants it or a dependent waits for it; a task in memory
 *   that is no longer needed is released (its data freed on the workers), and a released task
 *   that no client wants and no task depends on is forgotten;
 * - `processing` tasks have `processingOn` set and sit in that worker's `processing` set;
 *   `memory` tasks have a non-empty `whoHas`; `queued` tasks have all dependencies in memory.
 *
 * Placement: among workers with a free slot (and satisfying restrictions and resources), the
 * one holding the most bytes of the task's dependencies, else the least occupied. Slots per
 * worker adapt to measured task durations (per key prefix): fast tasks get a deeper pipeline,
 * slow ones only ~2 per thread, so root tasks queue on the scheduler instead of flooding.
 */
import type { Message, TaskSpec } from "../protocol/messages.js";
import { Op, type WireError } from "../protocol/ops.js";

export const TaskState = {
  released: "released",
  waiting: "waiting",
  queued: "queued",
  processing: "processing",
  memory: "memory",
  erred: "erred",
  forgotten: "forgotten",
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];


export interface TaskRecord {
  spec: TaskSpec;
  state: TaskState;
  processingOn?: string;
  whoHas: Set<string>;
  nbytes: number;
  error?: WireError;
  /** key of the task whose failure this is, when a dependency failed */
  erredBecause?: string;
  wantedBy: Set<string>;
  dependencies: Set<TaskRecord>;
  dependents: Set<TaskRecord>;
  /** dependents that still need this task's result */
  waiters: Set<TaskRecord>;
  /** workers that died while running it */
  suspicious: number;
  retriesLeft: number;
  seq: number;
  /** on a thread of its worker (told by the worker), while processing */
  running: boolean;
  /** position in the scheduler's queue, -1 when not queued */
  heapIndex: number;
}

export interface WorkerInfo {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
  pid: number;
  resources?: Record<string, number>;
}

export interface WorkerRecord extends WorkerInfo {
  processing: Set<TaskRecord>;
  hasWhat: Set<TaskRecord>;
  nbytes: number;
  lastSeen: number;
  metrics: Record<string, unknown>;
  /** resources in use by processing tasks */
  used: Record<string, number>;
  /** retiring: gets no new tasks */
  closing: boolean;
  /** over its memory's pause threshold: gets no new tasks until it says otherwise */
  paused: boolean;
}

export type Instruction =
  | { type: "send-worker"; worker: string; msg: Message }
  | { type: "send-client"; client: string; msg: Message };

/** What workload() reports: the scheduler's pending work, for adaptive scaling. */
export interface Workload {
  /** tasks runnable but waiting on the scheduler for a worker slot */
  queuedTasks: number;
  /** their expected compute seconds (measured per key prefix, else the unknown-task duration) */
  queuedSeconds: number;
  processingTasks: number;
  processingSeconds: number;
  workers: number;
  nthreads: number;
  /** bytes of results the workers hold */
  nbytes: number;
  /** the workers' memory limits added up, and how many workers have none */
  memoryLimit: number;
  unlimited: number;
  /** workers running nothing (and not retiring), fewest bytes held first; memoryLimit 0 = none */
  idleWorkers: Array<{ name: string; nbytes: number; memoryLimit: number }>;
}

export interface SchedulerStateOptions {
  /** workers a task may kill before it errs with KilledWorker (Dask's allowed-failures) */
  allowedFailures?: number;
}

/** Slots per thread when a task prefix's duration is unknown or long. */
export const MIN_SATURATION = 2;
/** Cap on slots per thread for very fast tasks. */
export const MAX_SATURATION = 256;
/** How much queued work (seconds) a worker's pipeline should hold. */
const PIPELINE_SECONDS = 0.02;
/** Queued tasks workload() looks at (Dask's adaptive_target samples 100 too). */
const QUEUE_SAMPLE = 100;
/** Transitions kept for story(): Dask keeps 100,000 too. */
const TRANSITION_LOG_SIZE = 100_000;

type Transition = (s: SchedulerState, t: TaskRecord, stimulusId: string) => void;

/**
 * The shared empty set of tasks without dependencies, dependents or waiters (most tasks of a
 * big map): never added to, so a graph of 100k independent tasks allocates no sets for them.
 */
const NONE: Set<TaskRecord> = new Set();

function link(t: TaskRecord, field: "dependencies" | "dependents" | "waiters", other: TaskRecord): void {
  if (t[field] === NONE) t[field] = new Set();
  t[field].add(other);
}

/**
 * `root` and every task that depends on it, directly or not, each once, dependents before the
 * tasks they depend on (an iterative depth-first post-order: chains may be long).
 */
function withDependents(root: TaskRecord): TaskRecord[] {
  const out: TaskRecord[] = [];
  const seen = new Set<TaskRecord>([root]);
  const stack: Array<{ t: TaskRecord; next: Iterator<TaskRecord> }> = [{ t: root, next: root.dependents.values() }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const step = top.next.next();
    if (step.done) {
      out.push(top.t);
      stack.pop();
    } else if (!seen.has(step.value)) {
      seen.add(step.value);
      stack.push({ t: step.value, next: step.value.dependents.values() });
    }
  }
  return out;
}

const TRANSITIONS = new Map<string, Transition>([
  ["released->waiting", (s, t, sid) => s.toWaiting(t, sid)],
  ["released->erred", (s, t, sid) => s.erred(t, sid)],
  ["waiting->queued", (s, t) => s.enqueue(t)],
  ["waiting->released", (s, t, sid) => s.unwait(t, sid)],
  ["waiting->erred", (s, t, sid) => s.erred(t, sid)],
  ["queued->processing", () => {}],
  ["queued->released", (s, t) => s.dequeue(t)],
  ["queued->waiting", (s, t, sid) => {
    s.dequeue(t);
    s.toWaiting(t, sid);
  }],
  ["queued->erred", (s, t, sid) => {
    s.dequeue(t);
    s.erred(t, sid);
  }],
  ["processing->memory", (s, t, sid) => s.inMemory(t, sid)],
  ["processing->erred", (s, t, sid) => s.erred(t, sid)],
  ["processing->queued", (s, t) => s.enqueue(t)],
  ["processing->waiting", (s, t, sid) => s.toWaiting(t, sid)],
  ["processing->released", (s, t, sid) => {
    s.unassign(t);
    s.unwait(t, sid);
  }],
  ["memory->released", (s, t) => s.freeData(t)],
  ["memory->waiting", (s, t, sid) => s.toWaiting(t, sid)],
  ["erred->released", () => {}],
  ["released->forgotten", (s, t, sid) => s.forget(t, sid)],
  ["erred->forgotten", (s, t, sid) => s.forget(t, sid)],
]);

export class SchedulerState {
  readonly workers = new Map<string, WorkerRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  readonly clients = new Set<string>();
  readonly allowedFailures: number;
  /** Task state changes so far: a scheduler watching for idleness compares counts. */
  transitions = 0;
  /** EWMA of compute seconds per key prefix */
  readonly durations = new Map<string, number>();
  /** Tasks computed so far per key prefix (a task group: its function's name), and in all. */
  readonly finishedByPrefix = new Map<string, number>();
  finished = 0;
  /** Tasks that erred on a worker (not counting dependents failed by them). */
  failed = 0;
  /** queued tasks, highest priority then oldest first */
  #queue = new TaskHeap();
  #out: Instruction[] = [];
  #log = new TransitionLog(TRANSITION_LOG_SIZE);
  /** the small result of the task now entering memory, for its clients */
  #inline: unknown;
  #seq = 0;

  constructor(opts: SchedulerStateOptions = {}) {
    this.allowedFailures = opts.allowedFailures ?? 3; // SCHEDULER_DEFAULTS.allowedFailures (a pure core imports no options module)
  }

  // ---- events -------------------------------------------------------------------------------

  addWorker(info: WorkerInfo, now: number): Instruction[] {
    this.workers.set(info.address, {
      ...info,
      processing: new Set(),
      hasWhat: new Set(),
      nbytes: 0,
      lastSeen: now,
      metrics: {},
      used: {},
      closing: false,
      paused: false,
    });
    this.#fill(`add-worker-${info.name}`);
    return this.#flush();
  }

  /** A worker left or died: rerun what it was computing; recompute what only it held. */
  removeWorker(address: string, stimulusId: string, opts: { died?: boolean } = {}): Instruction[] {
    const ws = this.workers.get(address);
    if (!ws) return [];
    this.workers.delete(address);
    for (const t of [...ws.processing]) {
      if (t.state !== TaskState.processing || t.processingOn !== address) continue;
      // only tasks that were on a thread can have killed it; the rest were waiting their turn
      if ((opts.died ?? true) && t.running) t.suspicious++;
      this.#stopProcessing(t, ws);
      if (t.suspicious >= this.allowedFailures) {
        t.error = {
          name: "KilledWorkerError",
          message: `task ${JSON.stringify(t.spec.key)} was running on ${t.suspicious} workers that died (allowed-failures is ${this.allowedFailures}); it is probably what kills them`,
          stack: "",
        };
        this.#transition(t, TaskState.erred, stimulusId);
      } else {
        this.#transition(t, this.#ready(t) ? TaskState.queued : TaskState.waiting, stimulusId);
      }
    }
    for (const t of ws.hasWhat) {
      t.whoHas.delete(address);
      if (t.state === TaskState.memory && t.whoHas.size === 0) this.#lost(t, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** The worker's threads started these tasks: if it dies now, they are the suspects. */
  executing(address: string, keys: string[]): void {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (t && t.state === TaskState.processing && t.processingOn === address) t.running = true;
    }
  }

  heartbeat(address: string, metrics: Record<string, unknown>, now: number): void {
    const ws = this.workers.get(address);
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
    for (const t of this.tasks.values()) if (t.wantedBy.has(client)) keys.push(t.spec.key);
    return this.releaseKeys(client, keys, stimulusId);
  }

  /**
   * New tasks from a client (dependencies first or in any order within one batch). A key that
   * is already known just gains the client as a wanter, and the client hears its news.
   */
  updateGraph(client: string, specs: TaskSpec[], stimulusId: string): Instruction[] {
    const fresh: TaskRecord[] = [];
    for (const spec of specs) {
      const known = this.tasks.get(spec.key);
      if (known && known.state !== TaskState.forgotten) continue;
      const t: TaskRecord = {
        spec,
        state: TaskState.released,
        whoHas: new Set(),
        nbytes: 0,
        wantedBy: new Set(),
        dependencies: NONE,
        dependents: NONE,
        waiters: NONE,
        suspicious: 0,
        retriesLeft: spec.retries ?? 0,
        seq: this.#seq++,
        running: false,
        heapIndex: -1,
      };
      this.tasks.set(spec.key, t);
      fresh.push(t);
    }
    // a task on a key the scheduler does not know (cancelled, or released) can never run
    const orphans = new Map<TaskRecord, string>();
    for (const t of fresh) {
      for (const depKey of t.spec.deps) {
        const dep = this.tasks.get(depKey);
        if (!dep) {
          if (!orphans.has(t)) orphans.set(t, depKey);
          continue;
        }
        link(t, "dependencies", dep);
        link(dep, "dependents", t);
      }
    }
    const doomed = new Set<TaskRecord>();
    for (const t of orphans.keys()) for (const d of withDependents(t)) doomed.add(d);
    for (const spec of specs) {
      const t = this.tasks.get(spec.key)!;
      t.wantedBy.add(client);
      if (doomed.has(t)) continue;
      if (t.state === TaskState.memory) this.#sendClient(client, { op: Op.keyInMemory, key: t.spec.key, nbytes: t.nbytes });
      else if (t.state === TaskState.erred) this.#sendClient(client, this.#erredMsg(t));
      else if (t.state === TaskState.released) {
        if (t.error) this.#transition(t, TaskState.erred, stimulusId);
        else this.#transition(t, TaskState.waiting, stimulusId);
      }
    }
    for (const [t, depKey] of orphans) this.#cancel(t, `it depends on ${JSON.stringify(depKey)}, which the scheduler does not know (cancelled or released)`, stimulusId);
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** Data put on a worker directly by a client (scatter): the keys are in memory there. */
  addData(client: string, worker: string, entries: Array<{ key: string; nbytes: number }>, stimulusId: string): Instruction[] {
    const ws = this.workers.get(worker);
    for (const { key, nbytes } of entries) {
      let t = this.tasks.get(key);
      if (!t) {
        t = {
          spec: { key, fn: null, args: [], deps: [] },
          state: TaskState.released,
          whoHas: new Set(),
          nbytes,
          wantedBy: new Set(),
          dependencies: NONE,
          dependents: NONE,
          waiters: NONE,
          suspicious: 0,
          retriesLeft: 0,
          seq: this.#seq++,
          running: false,
          heapIndex: -1,
          };
        this.tasks.set(key, t);
      }
      t.wantedBy.add(client);
      t.nbytes = nbytes;
      if (ws) this.#addReplica(t, ws);
      if (t.state !== TaskState.memory && ws) {
        this.#record(t, TaskState.memory, stimulusId);
        this.#dependentsMayRun(t, stimulusId);
      }
      this.#sendClient(client, { op: Op.keyInMemory, key, nbytes });
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** `value`: a small result's encoded parts, passed on to the clients (not kept here). */
  taskFinished(worker: string, key: string, nbytes: number, durationS: number, stimulusId: string, value?: unknown): Instruction[] {
    const t = this.tasks.get(key);
    const ws = this.workers.get(worker);
    if (t && ws && t.state === TaskState.processing && t.processingOn === worker) {
      this.#stopProcessing(t, ws);
      this.#recordDuration(key, durationS);
      this.finished++;
      const prefix = this.prefixOf(key);
      this.finishedByPrefix.set(prefix, (this.finishedByPrefix.get(prefix) ?? 0) + 1);
      t.nbytes = nbytes;
      this.#addReplica(t, ws);
      this.#inline = value;
      this.#transition(t, TaskState.memory, stimulusId);
      this.#inline = undefined;
    } else {
      // a result nobody waits for from this worker any more (cancelled, released, rescheduled):
      // it goes to no one, and is freed there
      this.#dropped(key, t, worker, "result", stimulusId);
      if (ws) this.#sendWorker(worker, { op: Op.freeKeys, keys: [key] });
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  taskErred(worker: string, key: string, error: WireError, stimulusId: string): Instruction[] {
    const t = this.tasks.get(key);
    const ws = this.workers.get(worker);
    if (t && ws && t.state === TaskState.processing && t.processingOn === worker) {
      this.#stopProcessing(t, ws);
      if (t.retriesLeft > 0) {
        t.retriesLeft--;
        this.#transition(t, TaskState.queued, stimulusId);
      } else {
        t.error = error;
        this.failed++;
        this.#transition(t, TaskState.erred, stimulusId);
      }
    } else {
      this.#dropped(key, t, worker, "error", stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** A worker could not get a dependency from any holder: treat those copies as gone. */
  missingData(worker: string, key: string, missing: string, holders: string[], stimulusId: string): Instruction[] {
    const dep = this.tasks.get(missing);
    if (dep) {
      for (const h of holders) {
        dep.whoHas.delete(h);
        const holder = this.workers.get(h);
        if (holder?.hasWhat.delete(dep)) holder.nbytes -= dep.nbytes;
      }
      if (dep.state === TaskState.memory && dep.whoHas.size === 0) this.#lost(dep, stimulusId);
    }
    const t = this.tasks.get(key);
    const ws = this.workers.get(worker);
    if (t && ws && t.state === TaskState.processing && t.processingOn === worker) {
      this.#stopProcessing(t, ws);
      this.#transition(t, this.#ready(t) ? TaskState.queued : TaskState.waiting, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** The client no longer wants these keys. */
  releaseKeys(client: string, keys: string[], stimulusId: string): Instruction[] {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (!t || !t.wantedBy.delete(client)) continue;
      this.#maybeRelease(t, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /**
   * Cancel these keys and, recursively, every task that depends on them, for every client:
   * each client that wanted one hears key-cancelled with `reason` (or, for a dependent, which
   * cancelled key it depends on); running work is stopped and results are freed.
   */
  cancelKeys(keys: string[], stimulusId: string, reason = "cancelled"): Instruction[] {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (t) this.#cancel(t, reason, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** Cancel every task, all for the same reason (a restart). */
  cancelAll(reason: string, stimulusId: string): Instruction[] {
    for (const t of [...this.tasks.values()]) if (t.state !== TaskState.forgotten) this.#cancel(t, reason, stimulusId, reason);
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** A worker paused (memory above its pause threshold) or resumed; resuming fills it again. */
  setPaused(address: string, paused: boolean, stimulusId: string): Instruction[] {
    const ws = this.workers.get(address);
    if (ws) ws.paused = paused;
    if (!paused) this.#fill(stimulusId);
    return this.#flush();
  }

  /** Stop giving tasks to these workers (they are retiring). */
  setClosing(addresses: string[]): void {
    for (const a of addresses) {
      const ws = this.workers.get(a);
      if (ws) ws.closing = true;
    }
  }

  /** Keys held only by `address` among the workers, for retirement. */
  uniqueKeys(address: string): TaskRecord[] {
    const ws = this.workers.get(address);
    return ws ? [...ws.hasWhat].filter((t) => t.whoHas.size === 1) : [];
  }

  /** A worker got a copy of a key (replication during retirement). */
  addReplica(key: string, address: string): void {
    const t = this.tasks.get(key);
    const ws = this.workers.get(address);
    if (t && ws && t.state === TaskState.memory) this.#addReplica(t, ws);
  }

  // ---- queries ------------------------------------------------------------------------------

  whoHas(keys: string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const k of keys) out[k] = [...(this.tasks.get(k)?.whoHas ?? [])];
    return out;
  }

  /** The key's transitions still in the log, oldest first. */
  story(key: string): StoryEntry[] {
    return this.#log.story(key);
  }

  /** No task is queued or running (those waiting on others wait on one of these). */
  idle(): boolean {
    if (this.#queue.size > 0) return false;
    for (const ws of this.workers.values()) if (ws.processing.size > 0) return false;
    return true;
  }

  /**
   * The pending work adaptive scaling sizes the cluster by (Dask's adaptive_target inputs):
   * expected seconds of compute queued and processing, from the measured duration of each
   * task's key prefix, or `unknownDurationS` for a prefix never seen finishing. The queue is
   * sampled (its first 100 tasks, scaled up), so the cost does not grow with a huge backlog.
   */
  workload(unknownDurationS: number): Workload {
    const expected = (t: TaskRecord) => this.durations.get(this.prefixOf(t.spec.key)) ?? unknownDurationS;
    const sample = this.#queue.first(QUEUE_SAMPLE);
    let queuedSeconds = 0;
    for (const t of sample) queuedSeconds += expected(t);
    if (sample.length) queuedSeconds *= this.#queue.size / sample.length;
    let processingSeconds = 0;
    let processingTasks = 0;
    let nthreads = 0;
    const idle: WorkerRecord[] = [];
    let nbytes = 0;
    let memoryLimit = 0;
    let unlimited = 0;
    for (const ws of this.workers.values()) {
      nthreads += ws.nthreads;
      nbytes += ws.nbytes;
      if (ws.memoryLimit > 0) memoryLimit += ws.memoryLimit;
      else unlimited++;
      processingTasks += ws.processing.size;
      for (const t of ws.processing) processingSeconds += expected(t);
      if (ws.processing.size === 0 && !ws.closing) idle.push(ws);
    }
    const idleWorkers = idle.sort((a, b) => a.nbytes - b.nbytes).map((ws) => ({ name: ws.name, nbytes: ws.nbytes, memoryLimit: ws.memoryLimit }));
    return { queuedTasks: this.#queue.size, queuedSeconds, processingTasks, processingSeconds, workers: this.workers.size, nthreads, nbytes, memoryLimit, unlimited, idleWorkers };
  }

  /** Counts of tasks per state. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.tasks.values()) out[t.state] = (out[t.state] ?? 0) + 1;
    return out;
  }

  // ---- used by the transition table ----------------------------------------------------------

  toWaiting(t: TaskRecord, stimulusId: string): void {
    for (const dep of t.dependencies) {
      if (dep.state === TaskState.erred) {
        this.#failFrom(t, dep, stimulusId);
        return;
      }
    }
    let ready = true;
    for (const dep of t.dependencies) {
      if (dep.state !== TaskState.memory) {
        ready = false;
        link(dep, "waiters", t);
        if (dep.state === TaskState.released) this.#transition(dep, TaskState.waiting, stimulusId);
      } else {
        link(dep, "waiters", t);
      }
    }
    if (ready && t.state === TaskState.waiting) this.#transition(t, TaskState.queued, stimulusId);
  }

  enqueue(t: TaskRecord): void {
    this.#queue.push(t);
  }

  dequeue(t: TaskRecord): void {
    this.#queue.remove(t);
  }

  /** A task no longer runs towards a result: its dependencies stop waiting for it. */
  unwait(t: TaskRecord, stimulusId: string): void {
    for (const dep of t.dependencies) {
      dep.waiters.delete(t);
      this.#maybeRelease(dep, stimulusId);
    }
  }

  /** A processing task is taken back from its worker, which drops it (and any result of it). */
  unassign(t: TaskRecord): void {
    const ws = t.processingOn ? this.workers.get(t.processingOn) : undefined;
    if (!ws) return;
    this.#stopProcessing(t, ws);
    this.#sendWorker(ws.address, { op: Op.freeKeys, keys: [t.spec.key] });
  }

  inMemory(t: TaskRecord, stimulusId: string): void {
    const holder = t.whoHas.values().next().value;
    for (const c of t.wantedBy) this.#sendClient(c, { op: Op.keyInMemory, key: t.spec.key, nbytes: t.nbytes, value: this.#inline, worker: holder });
    this.#dependentsMayRun(t, stimulusId);
    // its own inputs are no longer needed for it
    for (const dep of t.dependencies) {
      dep.waiters.delete(t);
      this.#maybeRelease(dep, stimulusId);
    }
    this.#maybeRelease(t, stimulusId);
  }

  erred(t: TaskRecord, stimulusId: string): void {
    for (const c of t.wantedBy) this.#sendClient(c, this.#erredMsg(t));
    for (const dep of t.dependencies) {
      dep.waiters.delete(t);
      this.#maybeRelease(dep, stimulusId);
    }
    for (const dependent of [...t.dependents]) {
      if (dependent.state === TaskState.waiting || dependent.state === TaskState.queued) this.#failFrom(dependent, t, stimulusId);
    }
  }

  freeData(t: TaskRecord): void {
    for (const a of t.whoHas) {
      const ws = this.workers.get(a);
      if (ws) {
        ws.hasWhat.delete(t);
        ws.nbytes -= t.nbytes;
      }
      this.#sendWorker(a, { op: Op.freeKeys, keys: [t.spec.key] });
    }
    t.whoHas.clear();
  }

  forget(t: TaskRecord, stimulusId: string): void {
    this.tasks.delete(t.spec.key);
    for (const dep of t.dependencies) {
      dep.dependents.delete(t);
      dep.waiters.delete(t);
      this.#maybeRelease(dep, stimulusId);
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  /** `reason`, when given, is kept in the story next to this transition (not its cascade). */
  #transition(t: TaskRecord, to: TaskState, stimulusId: string, reason?: string): void {
    const from = t.state;
    const fn = TRANSITIONS.get(`${from}->${to}`);
    if (!fn) throw new Error(`illegal transition ${from}->${to} for ${t.spec.key} (${stimulusId})`);
    this.#record(t, to, stimulusId, reason);
    fn(this, t, stimulusId);
  }

  #record(t: TaskRecord, to: TaskState, stimulusId: string, reason?: string): void {
    this.transitions++;
    this.#log.add(t.spec.key, stimulusId, t.state, to, reason);
    t.state = to;
  }

  /**
   * Cancel `root` and every task that depends on it, dependents first, so that each is
   * released (stopped on its worker, its data freed) once nothing waits for it, then forgotten.
   */
  #cancel(root: TaskRecord, reason: string, stimulusId: string, because = `it depends on ${JSON.stringify(root.spec.key)}, which was cancelled`): void {
    for (const t of withDependents(root)) {
      if (t.state === TaskState.forgotten) continue; // went with a dependent that was its last user
      const why = t === root ? reason : because;
      for (const c of t.wantedBy) this.#sendClient(c, { op: Op.keyCancelled, key: t.spec.key, reason: why });
      t.wantedBy.clear();
      this.#maybeRelease(t, stimulusId, why);
    }
  }

  /** A worker's result or error for a key it no longer runs: none takes it, the story says so. */
  #dropped(key: string, t: TaskRecord | undefined, worker: string, what: string, stimulusId: string): void {
    const state = t?.state ?? TaskState.forgotten;
    const why = t ? `the task is ${state}${t.processingOn ? ` on ${t.processingOn}` : ""}` : "the key was cancelled or released";
    this.#log.add(key, stimulusId, state, state, `${what} from ${worker} dropped: ${why}`);
  }

  #ready(t: TaskRecord): boolean {
    for (const dep of t.dependencies) if (dep.state !== TaskState.memory) return false;
    return true;
  }

  #failFrom(t: TaskRecord, cause: TaskRecord, stimulusId: string): void {
    t.error = cause.error;
    t.erredBecause = cause.erredBecause ?? cause.spec.key;
    this.#transition(t, TaskState.erred, stimulusId);
  }

  #erredMsg(t: TaskRecord): Message {
    return { op: Op.keyErred, key: t.spec.key, error: t.error, because: t.erredBecause };
  }

  /** Release a task nobody needs; forget it when nothing refers to it either. */
  #maybeRelease(t: TaskRecord, stimulusId: string, reason?: string): void {
    if (t.wantedBy.size > 0 || t.waiters.size > 0) return;
    switch (t.state) {
      case TaskState.processing:
      case TaskState.waiting:
      case TaskState.queued:
      case TaskState.memory:
      case TaskState.erred:
        this.#transition(t, TaskState.released, stimulusId, reason);
        break;
    }
    if (t.state === TaskState.released && t.dependents.size === 0) this.#transition(t, TaskState.forgotten, stimulusId);
  }

  #dependentsMayRun(t: TaskRecord, stimulusId: string): void {
    for (const dependent of t.dependents) {
      if (dependent.state === TaskState.waiting && this.#ready(dependent)) this.#transition(dependent, TaskState.queued, stimulusId);
    }
  }

  /** A result in memory lost its last copy: recompute it if needed, and hold its dependents. */
  #lost(t: TaskRecord, stimulusId: string): void {
    for (const c of t.wantedBy) this.#sendClient(c, { op: Op.keyLost, key: t.spec.key });
    if (t.wantedBy.size > 0 || t.waiters.size > 0) {
      if (t.spec.fn === null) {
        // scattered data has no lineage to recompute from
        t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(t.spec.key)} was lost with its worker`, stack: "" };
        this.#record(t, TaskState.erred, stimulusId);
        this.erred(t, stimulusId);
        return;
      }
      this.#transition(t, TaskState.waiting, stimulusId);
    } else {
      this.#transition(t, TaskState.released, stimulusId);
    }
    // dependents that were about to run (or running) with it wait for it again
    for (const dependent of t.dependents) {
      if (dependent.state === TaskState.processing && dependent.processingOn) {
        const ws = this.workers.get(dependent.processingOn);
        if (ws) {
          this.#stopProcessing(dependent, ws);
          this.#sendWorker(ws.address, { op: Op.freeKeys, keys: [dependent.spec.key] });
        }
        this.#transition(dependent, TaskState.waiting, stimulusId);
      } else if (dependent.state === TaskState.queued) {
        this.#transition(dependent, TaskState.waiting, stimulusId);
      }
    }
    if (t.state === TaskState.released && t.dependents.size === 0) this.#transition(t, TaskState.forgotten, stimulusId);
  }

  #stopProcessing(t: TaskRecord, ws: WorkerRecord): void {
    ws.processing.delete(t);
    t.running = false;
    for (const [r, n] of Object.entries(t.spec.resources ?? {})) ws.used[r] = (ws.used[r] ?? 0) - n;
    t.processingOn = undefined;
  }

  #addReplica(t: TaskRecord, ws: WorkerRecord): void {
    if (t.whoHas.has(ws.address)) return;
    t.whoHas.add(ws.address);
    ws.hasWhat.add(t);
    ws.nbytes += t.nbytes;
  }

  /** A key's task group: the part before the first "-" (the function's name, for submitted tasks). */
  prefixOf(key: string): string {
    const i = key.indexOf("-");
    return i > 0 ? key.slice(0, i) : key;
  }

  #recordDuration(key: string, seconds: number): void {
    if (!(seconds >= 0)) return;
    const p = this.prefixOf(key);
    const old = this.durations.get(p);
    this.durations.set(p, old === undefined ? seconds : 0.7 * old + 0.3 * seconds);
  }

  /** Slots per thread for a task: deep pipelines for fast tasks, ~2 for slow or unknown ones. */
  #saturation(t: TaskRecord): number {
    const d = this.durations.get(this.prefixOf(t.spec.key));
    if (d === undefined) return MIN_SATURATION;
    return Math.max(MIN_SATURATION, Math.min(MAX_SATURATION, Math.ceil(PIPELINE_SECONDS / Math.max(d, 1e-6))));
  }

  /** Give queued tasks to workers with free slots, best placement first. */
  #fill(stimulusId: string): void {
    if (this.#queue.size === 0 || this.workers.size === 0) return;
    const skipped: TaskRecord[] = [];
    let t: TaskRecord | undefined;
    while ((t = this.#queue.peek())) {
      const ws = this.#pickWorker(t);
      if (!ws) {
        // an unconstrained task that finds no slot means every worker is full
        if (!t.spec.workers && !t.spec.resources) break;
        skipped.push(this.#queue.pop()!);
        continue;
      }
      this.#queue.pop();
      ws.processing.add(t);
      for (const [r, n] of Object.entries(t.spec.resources ?? {})) ws.used[r] = (ws.used[r] ?? 0) + n;
      t.processingOn = ws.address;
      this.#record(t, TaskState.processing, stimulusId);
      const whoHas: Record<string, string[]> = {};
      for (const dep of t.dependencies) whoHas[dep.spec.key] = [...dep.whoHas];
      this.#sendWorker(ws.address, {
        op: Op.computeTask,
        key: t.spec.key,
        fn: t.spec.fn,
        args: t.spec.args,
        whoHas,
        priority: t.spec.priority ?? 0,
      });
    }
    for (const s of skipped) this.#queue.push(s);
  }

  #pickWorker(t: TaskRecord): WorkerRecord | undefined {
    const allowed = t.spec.workers;
    const fits = (ws: WorkerRecord) => !allowed || allowed.includes(ws.name) || allowed.includes(ws.address);
    return this.#best(t, fits) ?? (allowed && t.spec.allowOtherWorkers ? this.#best(t, () => true) : undefined);
  }

  #best(t: TaskRecord, ok: (ws: WorkerRecord) => boolean): WorkerRecord | undefined {
    const slots = this.#saturation(t);
    let best: WorkerRecord | undefined;
    let bestBytes = -1;
    let bestLoad = Infinity;
    for (const ws of this.workers.values()) {
      if (ws.closing || ws.paused || ws.processing.size >= ws.nthreads * slots || !ok(ws) || !this.#hasResources(ws, t)) continue;
      let bytes = 0;
      for (const dep of t.dependencies) if (dep.whoHas.has(ws.address)) bytes += dep.nbytes;
      const load = ws.processing.size / ws.nthreads;
      if (bytes > bestBytes || (bytes === bestBytes && load < bestLoad)) {
        best = ws;
        bestBytes = bytes;
        bestLoad = load;
      }
    }
    return best;
  }

  #hasResources(ws: WorkerRecord, t: TaskRecord): boolean {
    const need = t.spec.resources;
    if (!need) return true;
    for (const [r, n] of Object.entries(need)) {
      if ((ws.resources?.[r] ?? 0) - (ws.used[r] ?? 0) < n) return false;
    }
    return true;
  }

  #sendWorker(worker: string, msg: Message): void {
    this.#out.push({ type: "send-worker", worker, msg });
  }

  #sendClient(client: string, msg: Message): void {
    this.#out.push({ type: "send-client", client, msg });
  }

  #flush(): Instruction[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }
}

export interface StoryEntry {
  stimulusId: string;
  from: TaskState;
  to: TaskState;
  at: number;
  /** why, where the event had one to tell (a cancellation, a dropped result) */
  reason?: string;
}

/** A ring of the last `size` transitions, in parallel arrays (no object per entry). */
class TransitionLog {
  #keys: string[];
  #stimuli: string[];
  #from: TaskState[];
  #to: TaskState[];
  #reasons: Array<string | undefined>;
  #at: Float64Array;
  #next = 0;
  #count = 0;

  constructor(readonly size: number) {
    this.#keys = new Array<string>(size);
    this.#stimuli = new Array<string>(size);
    this.#from = new Array<TaskState>(size);
    this.#to = new Array<TaskState>(size);
    this.#reasons = new Array<string | undefined>(size);
    this.#at = new Float64Array(size);
  }

  add(key: string, stimulusId: string, from: TaskState, to: TaskState, reason?: string): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#stimuli[i] = stimulusId;
    this.#from[i] = from;
    this.#to[i] = to;
    this.#reasons[i] = reason;
    this.#at[i] = Date.now();
    this.#next = (i + 1) % this.size;
    if (this.#count < this.size) this.#count++;
  }

  story(key: string): StoryEntry[] {
    const out: StoryEntry[] = [];
    const start = (this.#next - this.#count + this.size) % this.size;
    for (let n = 0; n < this.#count; n++) {
      const i = (start + n) % this.size;
      if (this.#keys[i] !== key) continue;
      const e: StoryEntry = { stimulusId: this.#stimuli[i]!, from: this.#from[i]!, to: this.#to[i]!, at: this.#at[i]! };
      if (this.#reasons[i] !== undefined) e.reason = this.#reasons[i];
      out.push(e);
    }
    return out;
  }
}

/**
 * Binary heap of queued tasks: higher priority first, then submission order. O(log n).
 * A task's position lives on the task itself (`heapIndex`, -1 when not queued).
 */
class TaskHeap {
  #items: TaskRecord[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): TaskRecord | undefined {
    return this.#items[0];
  }

  /** Up to n queued tasks, in heap (not priority) order. */
  first(n: number): TaskRecord[] {
    return this.#items.slice(0, n);
  }

  push(t: TaskRecord): void {
    if (t.heapIndex >= 0) return;
    t.heapIndex = this.#items.length;
    this.#items.push(t);
    this.#up(t.heapIndex);
  }

  pop(): TaskRecord | undefined {
    const top = this.#items[0];
    if (top) this.#removeAt(0);
    return top;
  }

  remove(t: TaskRecord): void {
    if (t.heapIndex >= 0) this.#removeAt(t.heapIndex);
  }

  #removeAt(i: number): void {
    this.#items[i]!.heapIndex = -1;
    const last = this.#items.pop()!;
    if (i < this.#items.length) {
      this.#items[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
  }

  #before(a: TaskRecord, b: TaskRecord): boolean {
    const pa = a.spec.priority ?? 0;
    const pb = b.spec.priority ?? 0;
    return pa !== pb ? pa > pb : a.seq < b.seq;
  }

  #swap(i: number, j: number): void {
    const a = this.#items[i]!;
    const b = this.#items[j]!;
    this.#items[i] = b;
    this.#items[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#before(this.#items[i]!, this.#items[p]!)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.#items.length && this.#before(this.#items[l]!, this.#items[m]!)) m = l;
      if (r < this.#items.length && this.#before(this.#items[r]!, this.#items[m]!)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }
}
